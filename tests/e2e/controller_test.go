//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/controller"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/redact"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// startController runs the real controller in this process, as the controller's own ServiceAccount
// (its token, nothing more), until the test ends or stop is called. There is no kubelet on this
// layer, so its Jobs never run: the node layer runs them.
func startController(t *testing.T) (stop func()) {
	t.Helper()
	c := contract(t)
	// The Deployment mounts the policy ConfigMap; an administrator reads it here.
	g, err := gate.Load(ctx, cluster.Client, c)
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(cluster.Config)
	cfg.BearerToken = mustToken(t, releaseNS, controllerSA)
	// The controller's log is not this test's output (it outlives a test that fails).
	ctrllog.SetLogger(logr.Discard())
	mgr, err := controller.NewManager(cfg, controller.Options{Contract: c, Catalogue: testenv.Catalogue(t), Gate: g,
		Redactor: redact.Default(), ProbeAddr: "0", MetricsAddr: "0", SweepInterval: time.Hour, SkipNameValidation: true})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(runCtx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(stop)
	return stop
}

// awaitPhase polls the run until it reaches phase (or fails on another final phase) and returns it.
func awaitPhase(t *testing.T, ns, name string, phase v1alpha1.Phase) *v1alpha1.ActionRun {
	t.Helper()
	var run v1alpha1.ActionRun
	require.NoError(t, waitFor(ctx, 60*time.Second, func() error {
		u, err := cluster.Dynamic.Resource(actionRuns).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		run = v1alpha1.ActionRun{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &run); err != nil {
			return err
		}
		if run.Status.Phase == phase {
			return nil
		}
		if run.Status.Phase.Final() {
			return fmt.Errorf("run %s/%s ended %s, not %s: %+v", ns, name, run.Status.Phase, phase, run.Status.Conditions)
		}
		return fmt.Errorf("run %s/%s is %q, waiting for %s", ns, name, run.Status.Phase, phase)
	}))
	return &run
}

func condition(run *v1alpha1.ActionRun, typ string) metav1.Condition {
	for _, c := range run.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// runObjects lists what exists of one run: its Jobs (by the controller's annotation) and per-run
// ServiceAccounts and bindings (by the run label of the release).
func runObjects(t *testing.T, run *v1alpha1.ActionRun) []string {
	t.Helper()
	return runObjectsOf(t, run, "Job")
}

func runObjectsOf(t *testing.T, run *v1alpha1.ActionRun, kind string) []string {
	t.Helper()
	var out []string
	annotation := run.Namespace + "/" + run.Name + "/" + string(run.UID)
	if kind == "TaskRun" {
		trs, err := cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, tr := range trs.Items {
			if tr.GetAnnotations()[controller.RunAnnotation] == annotation {
				out = append(out, "TaskRun "+tr.GetName())
			}
		}
	} else {
		jobs, err := cluster.Client.BatchV1().Jobs(releaseNS).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		for _, j := range jobs.Items {
			if j.Annotations[controller.RunAnnotation] == annotation {
				out = append(out, "Job "+j.Name)
			}
		}
	}
	if run.Status.ServiceAccount != "" {
		if _, err := cluster.Client.CoreV1().ServiceAccounts(releaseNS).Get(ctx, run.Status.ServiceAccount, metav1.GetOptions{}); err == nil {
			out = append(out, "ServiceAccount "+run.Status.ServiceAccount)
		}
		if _, err := cluster.Client.RbacV1().RoleBindings(run.Namespace).Get(ctx, run.Status.ServiceAccount, metav1.GetOptions{}); err == nil {
			out = append(out, "RoleBinding "+run.Status.ServiceAccount)
		}
	}
	return out
}

// The gate's target context is read from the live objects: a cordon of a control-plane node is refused
// though the request says nothing about the node, and nothing is created for a refused run.
func TestControllerRefusesFromTheLiveTarget(t *testing.T) {
	installed(t)
	startController(t)
	operator := personIn(t, releaseNS, "node-operator", "requester")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp-ctl-1", Labels: map[string]string{
		execution.ManagedLabel: "true", "node-role.kubernetes.io/control-plane": ""}}}
	_, err := cluster.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Nodes().Delete(context.Background(), node.Name, metav1.DeleteOptions{})
	})

	_, err = create(operator.client, actionRuns, releaseNS, actionRun("cordon-cp", "cordon-node", operator.user, map[string]any{"node": node.Name}))
	require.NoError(t, err)
	run := awaitPhase(t, releaseNS, "cordon-cp", v1alpha1.Refused)
	require.Contains(t, condition(run, v1alpha1.ConditionAllowed).Message, `refusing to cordon control-plane node "cp-ctl-1"`)
	require.NotNil(t, run.Status.Decision)
	require.False(t, run.Status.Decision.Allowed)
	require.Empty(t, runObjects(t, run), "a refused run creates nothing")

	ns := namespace(t, "ctl-refuse", nil)
	agent := personIn(t, ns, "alert-agent", "requester")
	_, err = create(agent.client, actionRuns, ns, actionRun("restart-ghost", "restart-pod", agent.user, map[string]any{"pod": "ghost"}))
	require.NoError(t, err)
	run = awaitPhase(t, ns, "restart-ghost", v1alpha1.Refused)
	require.Equal(t, "TargetNotFound", condition(run, v1alpha1.ConditionAllowed).Reason)
	require.Empty(t, runObjects(t, run))
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		u, err := cluster.Dynamic.Resource(actionRuns).Namespace(ns).Get(ctx, "restart-ghost", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(u.GetFinalizers()) > 0 {
			return fmt.Errorf("finalizers %v", u.GetFinalizers())
		}
		return nil
	}), "a final run keeps no finalizer")
}

// A run that needs approval waits, creating nothing, until a person other than its requester approves
// its exact spec; then it starts once, also across a controller restart that lost the status write.
func TestControllerWaitsForAPersonsApproval(t *testing.T) {
	installed(t)
	stop := startController(t)
	ns := namespace(t, "ctl-approve", nil)
	agent := personIn(t, ns, "alert-agent", "requester")
	// The agent may approve too (both roles): the controller still refuses its approval of its own run.
	_, err := cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "agent-approves"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: release + "-approver"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "alert-agent", Namespace: ns}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	oncall := personIn(t, ns, "on-call", "approver")

	created, err := create(agent.client, actionRuns, ns, actionRun("list-pods", "custom-script", agent.user, map[string]any{"resource": "pods", "selector": "app=web"}))
	require.NoError(t, err)
	run := awaitPhase(t, ns, "list-pods", v1alpha1.AwaitingApproval)
	require.Contains(t, condition(run, v1alpha1.ConditionApproved).Message, "the catalogue requires approval")
	require.Empty(t, runObjects(t, run), "nothing is created before approval")
	hash := run.Status.SpecHash

	tb := &table{t: t}
	for _, c := range []struct {
		name, who string
		by        person
		hash      string
		want      string
	}{
		{"the requester approves its own run", "self", agent, hash, "is by the run's own requester"},
		{"an approval of another spec", "stale", oncall, "sha256:" + fmt.Sprintf("%064d", 0), "is for spec"},
	} {
		var err error
		require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
			_, err = create(c.by.client, actionApprovals, ns, approval(c.who, created, c.hash, c.by.user))
			return err
		}))
		require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
			run = awaitPhase(t, ns, "list-pods", v1alpha1.AwaitingApproval)
			if msg := condition(run, v1alpha1.ConditionApproved).Message; !strings.Contains(msg, "approval "+c.who+" by "+c.by.user+" "+c.want) {
				return fmt.Errorf("condition: %s", msg)
			}
			return nil
		}), c.name)
		require.Empty(t, runObjects(t, run))
		tb.add(c.name, "not counted: "+c.want)
	}

	_, err = create(oncall.client, actionApprovals, ns, approval("ok", created, hash, oncall.user))
	require.NoError(t, err)
	run = awaitPhase(t, ns, "list-pods", v1alpha1.Running)
	require.Equal(t, "ok", run.Status.Approval)
	require.Equal(t, oncall.user, run.Status.ApprovedBy)
	require.Equal(t, []string{"Job " + run.Status.Workload.Name, "ServiceAccount " + run.Status.ServiceAccount, "RoleBinding " + run.Status.ServiceAccount}, runObjects(t, run))
	tb.add("an approval by another person", "Running as "+run.Status.ServiceAccount)

	// A restart that lost the status write: the new controller finds the same Job, never a second.
	stop()
	u, err := cluster.Dynamic.Resource(actionRuns).Namespace(ns).Get(ctx, "list-pods", metav1.GetOptions{})
	require.NoError(t, err)
	unstructured.RemoveNestedField(u.Object, "status", "workload")
	require.NoError(t, unstructured.SetNestedField(u.Object, string(v1alpha1.AwaitingApproval), "status", "phase"))
	_, err = cluster.Dynamic.Resource(actionRuns).Namespace(ns).UpdateStatus(ctx, u, metav1.UpdateOptions{})
	require.NoError(t, err)
	startController(t)
	// The restarted controller's initial list reconciles every run.
	again := awaitPhase(t, ns, "list-pods", v1alpha1.Running)
	require.Equal(t, run.Status.Workload.Name, again.Status.Workload.Name)
	require.Equal(t, runObjects(t, run), runObjects(t, again), "one Job, one identity")
	tb.add("a controller restart that lost the status write", "the same Job "+again.Status.Workload.Name)

	// The Job cannot run here; an administrator removes it, and the run ends Failed with nothing left.
	require.NoError(t, cluster.Client.BatchV1().Jobs(releaseNS).Delete(ctx, run.Status.Workload.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}))
	final := awaitPhase(t, ns, "list-pods", v1alpha1.Failed)
	require.Equal(t, "WorkloadGone", condition(final, v1alpha1.ConditionComplete).Reason)
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		if left := runObjects(t, final); len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	}), "nothing of the run is left")
	tb.add("its Job deleted", "Failed, identity torn down")
	tb.print("case", "outcome")
}

// In tekton mode the controller creates a TaskRun of the chart's Task, which the workloads policy
// admits for its token: every parameter, the target context read from the live Deployment, and the
// approval as false. (No Tekton controller runs here: the node layer runs the TaskRuns.)
func TestControllerStartsATaskRun(t *testing.T) {
	installed(t)
	startController(t)
	ns := namespace(t, "ctl-tekton", map[string]string{execution.EnvironmentLabel: "staging"})
	agent := personIn(t, ns, "alert-agent", "requester")
	replicas := int32(2)
	_, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	obj := actionRun("scale-web", "scale-deployment", agent.user, map[string]any{"deployment": "web", "replicas": 3})
	require.NoError(t, unstructured.SetNestedField(obj.Object, v1alpha1.ModeTekton, "spec", "mode"))
	_, err = create(agent.client, actionRuns, ns, obj)
	require.NoError(t, err)
	run := awaitPhase(t, ns, "scale-web", v1alpha1.Running)
	require.Equal(t, "TaskRun", run.Status.Workload.Kind)
	tr, err := cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Get(ctx, run.Status.Workload.Name, metav1.GetOptions{})
	require.NoError(t, err)
	params := map[string]string{}
	list, _, _ := unstructured.NestedSlice(tr.Object, "spec", "params")
	for _, p := range list {
		m := p.(map[string]any)
		params[m["name"].(string)] = m["value"].(string)
	}
	require.Equal(t, "3", params["replicas"])
	require.Equal(t, ns, params["namespace"], "the namespace is the ActionRun's own")
	require.Equal(t, ns+"/"+run.Name, params["run"], "the approval-gate step reads the ActionRun")
	require.Empty(t, params["approval"], "no approval was needed, none is named")
	require.JSONEq(t, `{"environment":"staging","labels":{},"currentReplicas":2}`, params["target"], "the target context is the live Deployment's")
	_, pending, _ := unstructured.NestedString(tr.Object, "spec", "status")
	require.False(t, pending, "the TaskRun was started (created pending until its ServiceAccount existed)")
	sa, _, _ := unstructured.NestedString(tr.Object, "spec", "serviceAccountName")
	require.Equal(t, run.Status.ServiceAccount, sa)
	require.Equal(t, []string{"TaskRun " + run.Status.Workload.Name, "ServiceAccount " + sa, "RoleBinding " + sa}, runObjectsOf(t, run, "TaskRun"))

	require.NoError(t, cluster.Dynamic.Resource(taskRuns).Namespace(releaseNS).Delete(ctx, run.Status.Workload.Name, metav1.DeleteOptions{}))
	final := awaitPhase(t, ns, "scale-web", v1alpha1.Failed)
	require.Equal(t, "WorkloadGone", condition(final, v1alpha1.ConditionComplete).Reason)
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		if left := runObjectsOf(t, final, "TaskRun"); len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	}), "nothing of the run is left")
}

// A Job of the run's name made before the controller (with the controller's token, say) and other
// values is not adopted as the run's record: the run is refused, naming the conflict.
func TestControllerAdoptsOnlyItsOwnJob(t *testing.T) {
	installed(t)
	ns := namespace(t, "ctl-adopt", nil)
	agent := personIn(t, ns, "alert-agent", "requester")
	replicas := int32(1)
	_, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web"}}}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	created, err := create(agent.client, actionRuns, ns, actionRun("scale-web", "scale-deployment", agent.user, map[string]any{"deployment": "web", "replicas": 3}))
	require.NoError(t, err)
	var run v1alpha1.ActionRun
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(created.Object, &run))

	// Before any controller runs: the Job the run would get, with 1000 replicas instead of 3.
	c := contract(t)
	a := testenv.Action(t, "scale-deployment")
	name := controller.JobName(&run)
	job, err := jobs.Build(c, a, jobs.Input{Name: name, ServiceAccount: runrbac.ServiceAccountName(c, a, ns, "Job", name),
		Parameters: map[string]string{"namespace": ns, "deployment": "web", "replicas": "1000"}, Target: validTarget})
	require.NoError(t, err)
	job.Annotations = map[string]string{controller.RunAnnotation: ns + "/scale-web/" + string(run.UID)}
	_, err = controllerClient(t).BatchV1().Jobs(releaseNS).Create(ctx, job, metav1.CreateOptions{})
	require.NoError(t, err, "the controller's token can create such a Job: it passes the workloads policy")
	t.Cleanup(func() {
		_ = cluster.Client.BatchV1().Jobs(releaseNS).Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	})

	startController(t)
	final := awaitPhase(t, ns, "scale-web", v1alpha1.Refused)
	require.Equal(t, "NameConflict", condition(final, v1alpha1.ConditionComplete).Reason)
	require.Contains(t, condition(final, v1alpha1.ConditionComplete).Message, "exists with other values than this run's")
	require.Empty(t, final.Status.ServiceAccount, "no identity was made for the forged Job")
}
