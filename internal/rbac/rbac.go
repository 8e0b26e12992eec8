// Package rbac computes every RBAC rule list the chart ships, once, from the catalogue: the controller's
// ClusterRole and release-namespace Role, and one inert ClusterRole per action. Chart templates only
// stamp release names onto what this package writes to files/rbac.json.
package rbac

import (
	"cmp"
	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"maps"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/jordigilh/kubernaut-execution/catalogue"
)

// Data is what the chart reads from files/rbac.json.
type Data struct {
	Controller Controller `json:"controller"`
	Actions    []Action   `json:"actions"`
}

// Controller holds the controller's rules. The `bind` rule is not here: its resourceNames carry the
// release prefix, so the ClusterRole template adds it from Actions.
//
// Creating a workload (Job, TaskRun, PipelineRun) is creating a pod, and a pod may run as any
// ServiceAccount of its namespace, so workload verbs are only ever granted in the release namespace
// (Kubernetes "RBAC good practices", workload creation); an admission policy bounds what runs there.
type Controller struct {
	// ClusterRules go into the controller's ClusterRole.
	ClusterRules []rbacv1.PolicyRule `json:"clusterRules"`
	// NamespaceRules go into a Role in the release namespace: what is only ever needed there.
	NamespaceRules []rbacv1.PolicyRule `json:"namespaceRules"`
	// EphemeralClusterRules and EphemeralNamespaceRules are added in ephemeral mode only: making and
	// removing per-run bindings and ServiceAccounts. Static mode pre-creates both at install time.
	EphemeralClusterRules   []rbacv1.PolicyRule `json:"ephemeralClusterRules"`
	EphemeralNamespaceRules []rbacv1.PolicyRule `json:"ephemeralNamespaceRules"`
}

// Action is one per-action ClusterRole: no subjects, bound per run (or statically) to one ServiceAccount.
type Action struct {
	Name  string              `json:"name"`
	Scope catalogue.Scope     `json:"scope"`
	Rules []rbacv1.PolicyRule `json:"rules"`
}

var (
	read        = []string{"get", "list", "watch"}
	manage      = []string{"create", "delete", "get", "list", "watch"}
	createPatch = []string{"create", "patch"}
	rbacGroup   = rbacv1.GroupName
	rule        = func(group string, resources []string, verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{group}, Resources: resources, Verbs: verbs}
	}
)

// Compute derives the chart's RBAC data from a validated catalogue.
func Compute(c *catalogue.Catalogue) Data {
	cluster := []rbacv1.PolicyRule{
		// The execution API: the controller runs ActionRuns and owns their status and finalizer. It only
		// reads approvals: a stolen controller token cannot approve (the API's admission policy refuses
		// it too), nor ask for a run.
		rule(v1alpha1.Group, []string{v1alpha1.ActionRunResource}, "get", "list", "patch", "update", "watch"),
		rule(v1alpha1.Group, []string{v1alpha1.ActionRunResource + "/status"}, "get", "patch", "update"),
		rule(v1alpha1.Group, []string{v1alpha1.ActionRunResource + "/finalizers"}, "update"),
		rule(v1alpha1.Group, []string{v1alpha1.ActionApprovalResource}, read...),
		// The target context the gate decides on is read from the live objects, never from the request:
		// the namespace's environment label, a node's labels, the context fields of the catalogue.
		rule("", contextResources(c, ""), "get"),
		// Events on an ActionRun go to its namespace.
		rule("", []string{"events"}, createPatch...),
		rule("events.k8s.io", []string{"events"}, createPatch...),
	}
	if apps := contextResources(c, "apps"); len(apps) > 0 {
		cluster = append(cluster, rule("apps", apps, "get"))
	}
	ephemeralCluster := []rbacv1.PolicyRule{
		// Per-run bindings in target namespaces. Creating one only succeeds for a role the controller may
		// bind (the bind rule on the per-action ClusterRoles): RBAC escalation prevention. The admission
		// policy pins what may be bound, where, and which bindings may be deleted.
		rule(rbacGroup, []string{"rolebindings"}, manage...),
	}
	if c.HasClusterActions() {
		ephemeralCluster = append(ephemeralCluster, rule(rbacGroup, []string{"clusterrolebindings"}, manage...))
	}
	namespace := []rbacv1.PolicyRule{
		// Runs are Tekton PipelineRuns/TaskRuns or Jobs, in the release namespace only; patch cancels a run.
		rule("tekton.dev", []string{"pipelineruns", "taskruns"}, "create", "delete", "get", "list", "patch", "watch"),
		// update: removing the run finalizer (execution/runrbac) from a finished Job.
		rule("batch", []string{"jobs"}, "create", "delete", "get", "list", "update", "watch"),
		// A Job run's pod: its steps' exit codes and the tail of their logs (redacted into status).
		rule("", []string{"pods"}, read...),
		rule("", []string{"pods/log"}, "get"),
		rule("coordination.k8s.io", []string{"leases"}, "create", "get", "update"),
	}

	actions := make([]Action, 0, len(c.Actions))
	for _, a := range c.Actions {
		actions = append(actions, Action{Name: a.Name, Scope: a.Scope, Rules: append(a.PolicyRules(), RunRules()...)})
	}
	slices.SortFunc(actions, func(a, b Action) int { return cmp.Compare(a.Name, b.Name) })
	ephemeralNamespace := []rbacv1.PolicyRule{
		// Per-run ServiceAccounts live in the release namespace: a pod can only use one of its own namespace.
		rule("", []string{"serviceaccounts"}, manage...),
	}
	return Data{Controller: Controller{ClusterRules: cluster, NamespaceRules: namespace,
		EphemeralClusterRules: ephemeralCluster, EphemeralNamespaceRules: ephemeralNamespace}, Actions: actions}
}

// RunRules are granted to every run besides its action's own rules: its approval-gate step reads the
// run's ActionRun and ActionApproval by name with the run's own token, to check the approval itself
// (policies/lib/gate.rego). Reading one by name is not an action's effect: the controller holds the
// same read.
func RunRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{rule(v1alpha1.Group, []string{v1alpha1.ActionApprovalResource, v1alpha1.ActionRunResource}, "get")}
}

// contextResources are the resources of group whose objects the controller reads for a run's target
// context: namespaces always, and the kind each action names its target by (catalogue.Target).
func contextResources(c *catalogue.Catalogue, group string) []string {
	set := map[string]bool{}
	if group == "" {
		set["namespaces"] = true
	}
	for _, a := range c.Actions {
		if t, ok := a.Target(); ok && a.ReadsTarget() && t.Group == group {
			set[t.Resource] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}
