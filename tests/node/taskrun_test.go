//go:build node

package node

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// Run is what the controller makes for one action run: a ServiceAccount in the release namespace and
// a binding of the action's ClusterRole to it in the target namespace (or cluster-wide), labelled
// with the run so that they can be found and removed.
type Run struct {
	ID, ServiceAccount string
	Action             catalogue.Action
	Namespace          string
	rel                releaseRef
	unbound            bool
}

func runLabels(id, action string) map[string]string {
	return map[string]string{"kubernaut.io/run": id, "kubernaut.io/action": action}
}

// runServiceAccount is a run's ServiceAccount name as package runrbac makes it:
// <release>-run-<action>.<target namespace>.<run>, without the namespace for a Cluster action. The
// admission policies read the action and the namespace from it.
func runServiceAccount(rel releaseRef, a catalogue.Action, targetNS, id string) string {
	if a.Scope == catalogue.Cluster {
		return rel.Name + "-run-" + a.Name + "." + id
	}
	return rel.Name + "-run-" + a.Name + "." + targetNS + "." + id
}

// provision creates a run's ServiceAccount and binding with the controller's client.
// With bind false it makes the ServiceAccount only: the control run whose token holds no permission.
func provision(ctx context.Context, rel releaseRef, controller kubernetesClient, a catalogue.Action, id, targetNS string, bind bool) (*Run, error) {
	// <release>-run-<action>.<run>: the admission policies read the run's action from the name.
	r := &Run{ID: id, ServiceAccount: runServiceAccount(rel, a, targetNS, id), Action: a, Namespace: targetNS, rel: rel, unbound: !bind}
	releaseNS := rel.NS
	meta := metav1.ObjectMeta{Name: r.ServiceAccount, Labels: runLabels(id, a.Name)}
	sa := &corev1.ServiceAccount{ObjectMeta: meta}
	sa.Namespace = releaseNS
	if _, err := controller.CoreV1().ServiceAccounts(releaseNS).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ServiceAccount: %w", err)
	}
	if !bind {
		return r, nil
	}
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: rel.Name + "-action-" + a.Name}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: r.ServiceAccount, Namespace: releaseNS}}
	var err error
	if a.Scope == catalogue.Cluster {
		_, err = controller.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: roleRef, Subjects: subjects}, metav1.CreateOptions{})
	} else {
		rb := &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: roleRef, Subjects: subjects}
		rb.Namespace = targetNS
		_, err = controller.RbacV1().RoleBindings(targetNS).Create(ctx, rb, metav1.CreateOptions{})
	}
	if err != nil {
		return r, fmt.Errorf("create binding: %w", err)
	}
	// The authorizer sees a new binding a moment later; the controller would requeue, the test waits
	// until the run's ServiceAccount holds its action's first rule.
	rule := a.PolicyRules()[0]
	ns := targetNS
	if a.Scope == catalogue.Cluster {
		ns = ""
	}
	return r, testenv.AwaitServiceAccountAllowed(ctx, cluster.Client, releaseNS, r.ServiceAccount, testenv.FirstOf(rule, ns))
}

// remove deletes the run's binding and ServiceAccount as the controller does, then checks that
// nothing labelled with the run is left.
func (r *Run) remove(ctx context.Context, controller kubernetesClient) error {
	var err error
	if r.unbound {
		// nothing to unbind
	} else if r.Action.Scope == catalogue.Cluster {
		err = controller.RbacV1().ClusterRoleBindings().Delete(ctx, r.ServiceAccount, metav1.DeleteOptions{})
	} else {
		err = controller.RbacV1().RoleBindings(r.Namespace).Delete(ctx, r.ServiceAccount, metav1.DeleteOptions{})
	}
	if err != nil {
		return fmt.Errorf("delete binding: %w", err)
	}
	if err := controller.CoreV1().ServiceAccounts(r.rel.NS).Delete(ctx, r.ServiceAccount, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete ServiceAccount: %w", err)
	}
	selector := metav1.ListOptions{LabelSelector: "kubernaut.io/run=" + r.ID}
	var left []string
	sas, err := cluster.Client.CoreV1().ServiceAccounts("").List(ctx, selector)
	if err != nil {
		return err
	}
	for _, o := range sas.Items {
		left = append(left, "ServiceAccount "+o.Namespace+"/"+o.Name)
	}
	rbs, err := cluster.Client.RbacV1().RoleBindings("").List(ctx, selector)
	if err != nil {
		return err
	}
	for _, o := range rbs.Items {
		left = append(left, "RoleBinding "+o.Namespace+"/"+o.Name)
	}
	crbs, err := cluster.Client.RbacV1().ClusterRoleBindings().List(ctx, selector)
	if err != nil {
		return err
	}
	for _, o := range crbs.Items {
		left = append(left, "ClusterRoleBinding "+o.Name)
	}
	if len(left) > 0 {
		return fmt.Errorf("left after teardown: %s", strings.Join(left, ", "))
	}
	return nil
}

// Step is one step's end, from the TaskRun's status.
type Step struct {
	Name              string
	Ran               bool // terminated after running (not skipped by an earlier failure)
	ExitCode          int32
	Reason            string
	Started, Finished time.Time
}

// Result is a finished TaskRun.
type Result struct {
	Name, Pod, ns           string
	Status, Reason, Message string
	Steps                   []Step
	Created, Completed      time.Time
	Provision, Teardown     time.Duration
	provisionStart          time.Time
	params                  map[string]string
	// containerPrefix names a step's container in the pod: "step-" under Tekton, none in a Job.
	containerPrefix string
}

func (r *Result) step(name string) Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return Step{Name: name}
}

// Logs of one step's container.
func (r *Result) Logs(ctx context.Context, step string) string {
	data, err := cluster.Client.CoreV1().Pods(r.ns).GetLogs(r.Pod, &corev1.PodLogOptions{Container: r.containerPrefix + step}).Stream(ctx)
	if err != nil {
		return "(logs: " + err.Error() + ")"
	}
	defer data.Close()
	out, _ := io.ReadAll(data)
	return string(out)
}

// stepsSummary is a line per step with how it ended, for failures.
func (r *Result) String() string {
	var parts []string
	for _, s := range r.Steps {
		parts = append(parts, fmt.Sprintf("%s: ran=%v exit=%d %s", s.Name, s.Ran, s.ExitCode, s.Reason))
	}
	return fmt.Sprintf("TaskRun %s %s/%s %q [%s]", r.Name, r.Status, r.Reason, r.Message, strings.Join(parts, "; "))
}

// runTask is the controller's part of one action run: provision the run's ServiceAccount and
// binding, create the TaskRun of the action's Task in the release namespace under that
// ServiceAccount (both with the controller's token), wait for it to end, tear the run down and check
// nothing is left.
func runTask(t testing.TB, a catalogue.Action, targetNS string, params map[string]string) *Result {
	t.Helper()
	return runTaskIn(t, defaultRelease, a, targetNS, params)
}

func runTaskIn(t testing.TB, rel releaseRef, a catalogue.Action, targetNS string, params map[string]string) *Result {
	t.Helper()
	return runTaskBound(t, rel, a, targetNS, params, true)
}

func runTaskBound(t testing.TB, rel releaseRef, a catalogue.Action, targetNS string, params map[string]string, bind bool) *Result {
	t.Helper()
	ctx := context.Background()
	releaseNS := rel.NS
	controller, controllerDyn, err := controllerClientsFor(ctx, rel)
	require.NoError(t, err)
	id := fmt.Sprintf("%s-%d", a.Name, time.Now().UnixNano()%1e6)
	res := &Result{provisionStart: time.Now(), ns: releaseNS, containerPrefix: "step-"}
	run, err := provision(ctx, rel, controller, a, id, targetNS, bind)
	require.NoError(t, err, "provision")
	res.Provision = time.Since(res.provisionStart)
	defer func() {
		start := time.Now()
		assert.NoError(t, run.remove(ctx, controller), "teardown")
		res.Teardown = time.Since(start)
	}()
	var list []any
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		list = append(list, map[string]any{"name": k, "value": params[k]})
	}
	tr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"generateName": a.Name + "-", "namespace": releaseNS, "labels": toAny(runLabels(id, a.Name))},
		"spec": map[string]any{
			"taskRef":            map[string]any{"name": tekton.TaskName(a.Name)},
			"serviceAccountName": run.ServiceAccount,
			"params":             list,
			"timeout":            "5m",
		},
	}}
	created, err := controllerDyn.Resource(tektonGVR("taskruns")).Namespace(releaseNS).Create(ctx, tr, metav1.CreateOptions{})
	require.NoError(t, err, "create TaskRun with the controller's token")
	res.Name = created.GetName()
	res.Created = created.GetCreationTimestamp().Time
	t.Cleanup(func() {
		_ = cluster.Dynamic.Resource(tektonGVR("taskruns")).Namespace(releaseNS).Delete(context.Background(), res.Name, metav1.DeleteOptions{})
	})
	var got *unstructured.Unstructured
	if err := waitFor(ctx, 5*time.Minute, func() error {
		got, err = cluster.Dynamic.Resource(tektonGVR("taskruns")).Namespace(releaseNS).Get(ctx, res.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s, _, _ := succeeded(got); s == "Unknown" {
			return errNotYet
		}
		return nil
	}); err != nil {
		// The pods' summary only when it failed: it is a request of its own.
		require.FailNow(t, fmt.Sprintf("TaskRun %s: %v", res.Name, err), cluster.podsSummary(ctx, releaseNS))
	}
	res.Status, res.Reason, res.Message = succeeded(got)
	res.Pod, _, _ = unstructured.NestedString(got.Object, "status", "podName")
	if ct, ok, _ := unstructured.NestedString(got.Object, "status", "completionTime"); ok {
		res.Completed, _ = time.Parse(time.RFC3339, ct)
	}
	states, _, _ := unstructured.NestedSlice(got.Object, "status", "steps")
	for _, s := range states {
		m, _ := s.(map[string]any)
		st := Step{}
		st.Name, _, _ = unstructured.NestedString(m, "name")
		if term, ok, _ := unstructured.NestedMap(m, "terminated"); ok {
			code, _, _ := unstructured.NestedInt64(term, "exitCode")
			st.ExitCode = int32(code)
			st.Reason, _, _ = unstructured.NestedString(term, "reason")
			// Tekton's entrypoint ends the steps after a failed one without running their command:
			// the step's terminationReason is "Skipped" (pkg/entrypoint, TerminationReasonSkipped).
			why, _, _ := unstructured.NestedString(m, "terminationReason")
			st.Ran = why != "Skipped"
			if why != "" {
				st.Reason = why
			}
			if v, ok, _ := unstructured.NestedString(term, "startedAt"); ok {
				st.Started, _ = time.Parse(time.RFC3339, v)
			}
			if v, ok, _ := unstructured.NestedString(term, "finishedAt"); ok {
				st.Finished, _ = time.Parse(time.RFC3339, v)
			}
		}
		res.Steps = append(res.Steps, st)
	}
	return res
}

func toAny(m map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// expectSteps checks how each step ended: an exit code for the steps that ran, and that the others
// did not run.
func expectSteps(t testing.TB, r *Result, want map[string]int32) {
	t.Helper()
	for _, name := range []string{steps.PolicyGate, steps.ApprovalGate, steps.DryRun, steps.Execute} {
		s := r.step(name)
		code, shouldRun := want[name]
		if s.Name == "" && !shouldRun {
			continue
		}
		if shouldRun {
			assert.True(t, s.Ran, "step %s did not run\n%s", name, r)
			assert.Equal(t, code, s.ExitCode, "step %s's exit code\n%s", name, r)
		} else {
			assert.False(t, s.Ran, "step %s ran (exit %d) after an earlier step failed\n%s", name, s.ExitCode, r)
		}
	}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
