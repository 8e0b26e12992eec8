package rbac_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/rbac"
)

func grants(rules []rbacv1.PolicyRule, resource string) bool {
	for _, r := range rules {
		for _, res := range r.Resources {
			if res == resource {
				return true
			}
		}
	}
	return false
}

// grantsVerb reports whether rules grant verb on resource (or "*").
func grantsVerb(rules []rbacv1.PolicyRule, resource, verb string) bool {
	for _, r := range rules {
		if (slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) && (slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) {
			return true
		}
	}
	return false
}

func TestClusterRoleBindingsOnlyWithClusterActions(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	require.True(t, grants(rbac.Compute(shipped).Controller.EphemeralClusterRules, "clusterrolebindings"))

	var namespacedOnly catalogue.Catalogue
	for _, a := range shipped.Actions {
		if a.Scope == catalogue.Namespaced {
			namespacedOnly.Actions = append(namespacedOnly.Actions, a)
		}
	}
	data := rbac.Compute(&namespacedOnly)
	require.False(t, grants(data.Controller.EphemeralClusterRules, "clusterrolebindings"))
	require.True(t, grants(data.Controller.EphemeralClusterRules, "rolebindings"))
}

// Workload creation is privilege escalation (a pod may run as any ServiceAccount of its namespace):
// no cluster-wide rule may create or change a workload. Reading one by name (a run's target context)
// is not a workload's creation.
func TestWorkloadsOnlyInTheReleaseNamespace(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	data := rbac.Compute(shipped)
	cluster := slices.Concat(data.Controller.ClusterRules, data.Controller.EphemeralClusterRules)
	for _, res := range []string{"jobs", "taskruns", "pipelineruns", "pods", "deployments", "cronjobs"} {
		for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection", "list", "watch"} {
			require.False(t, grantsVerb(cluster, res, verb), "cluster-wide %s %s", verb, res)
		}
	}
	require.True(t, grants(data.Controller.NamespaceRules, "jobs"))
	require.True(t, grants(data.Controller.NamespaceRules, "taskruns"))
}

// The controller holds none of the actions' permissions, only the verbs to bind them, and two reads
// that are no action's effect (the check rule controller-holds-no-action-permission says the same of
// renders): get, one object by name, for a run's target context; and in its own namespace's Role,
// where its runs' pods are and which no action may target, list and watch.
func TestControllerHoldsNoActionPermission(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	data := rbac.Compute(shipped)
	cluster := slices.Concat(data.Controller.ClusterRules, data.Controller.EphemeralClusterRules)
	namespace := slices.Concat(data.Controller.NamespaceRules, data.Controller.EphemeralNamespaceRules)
	for _, a := range data.Actions {
		for _, r := range a.Rules {
			for _, res := range r.Resources {
				for _, verb := range r.Verbs {
					if verb != "get" {
						require.False(t, grantsVerb(cluster, res, verb), "controller grants %s %s cluster-wide, which action %s uses", verb, res, a.Name)
					}
					if !slices.Contains([]string{"get", "list", "watch"}, verb) {
						require.False(t, grantsVerb(namespace, res, verb), "controller grants %s %s in its namespace, which action %s uses", verb, res, a.Name)
					}
				}
			}
		}
	}
	// Reads it holds for the target context, and no more than get.
	for _, res := range []string{"namespaces", "nodes", "pods", "deployments"} {
		require.True(t, grantsVerb(cluster, res, "get"), "get %s", res)
	}
	require.False(t, grantsVerb(cluster, "configmaps", "get"), "patch-configmap reads no context: configmaps are not read")
}

func TestActionsSortedAndExact(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	data := rbac.Compute(shipped)
	require.Len(t, data.Actions, len(shipped.Actions))
	for i := 1; i < len(data.Actions); i++ {
		require.Less(t, data.Actions[i-1].Name, data.Actions[i].Name)
	}
	for _, a := range data.Actions {
		src, ok := shipped.Action(a.Name)
		require.True(t, ok)
		require.Equal(t, append(src.PolicyRules(), rbac.RunRules()...), a.Rules, "the catalogue's rules, then the run's own")
		require.Equal(t, src.Scope, a.Scope)
	}
	// A run reads its own ActionRun and ActionApproval by name, nothing else and no list.
	require.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{"execution.kubernaut.io"}, Resources: []string{"actionapprovals", "actionruns"}, Verbs: []string{"get"}}}, rbac.RunRules())
}
