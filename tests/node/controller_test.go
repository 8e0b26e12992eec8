//go:build node

package node

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/controller"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/crd"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var (
	actionRunsGVR      = v1alpha1.GroupVersion.WithResource(v1alpha1.ActionRunResource)
	actionApprovalsGVR = v1alpha1.GroupVersion.WithResource(v1alpha1.ActionApprovalResource)
)

// awaitController waits until the chart's controller Deployment has an available replica: the image
// built offline, imported into containerd, running as the controller's ServiceAccount.
func awaitController(t testing.TB) {
	t.Helper()
	name := release + "-controller"
	require.NoError(t, waitFor(bg, 180*time.Second, func() error {
		d, err := cluster.Client.AppsV1().Deployments(releaseNS).Get(bg, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < 1 {
			return fmt.Errorf("controller %s: %d available (%s)", name, d.Status.AvailableReplicas, cluster.podsSummary(bg, releaseNS))
		}
		return nil
	}))
}

// user is a ServiceAccount standing for a person or an agent, bound to one of the chart's API roles in
// ns, with a dynamic client holding its token.
type user struct {
	name   string
	client dynamic.Interface
}

func userIn(t testing.TB, ns, name string, roles ...string) user {
	t.Helper()
	_, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(bg, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, role := range roles {
		_, err := cluster.Client.RbacV1().RoleBindings(ns).Create(bg, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name + "-" + role},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: release + "-" + role},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	token, err := cluster.Token(bg, ns, name)
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(cluster.Config)
	cfg.BearerToken = token
	c, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return user{name: "system:serviceaccount:" + ns + ":" + name, client: c}
}

// requestParameters turns a scenario's step parameters into an ActionRun's: integers as numbers, and
// without what the controller supplies (the target context, a Namespaced action's namespace, approval).
func requestParameters(a catalogue.Action, params map[string]string) map[string]any {
	out := map[string]any{}
	for _, p := range crd.RequestParameters(a) {
		v, ok := params[p.Name]
		if !ok {
			continue
		}
		if p.Type == catalogue.TypeInteger {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				out[p.Name] = n
				continue
			}
		}
		out[p.Name] = v
	}
	return out
}

// newActionRun is an ActionRun of action asked for by requester (mode "" takes the release's default).
func newActionRun(name, action string, params map[string]any, mode string, requester user) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": v1alpha1.ActionRunKind,
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"action": action, "requester": requester.name, "parameters": params},
	}}
	if mode != "" {
		_ = unstructured.SetNestedField(obj.Object, mode, "spec", "mode")
	}
	return obj
}

// approveRun creates approver's ActionApproval of the run (name, uid) with the spec hash it read.
func approveRun(ctx context.Context, ns, name string, uid types.UID, specHash string, approver user) error {
	_, err := approver.client.Resource(actionApprovalsGVR).Namespace(ns).Create(ctx, approvalObject(name, name, uid, specHash, approver), metav1.CreateOptions{})
	return err
}

// approvalObject is approver's ActionApproval, named name, of run (its name and uid) with specHash,
// for ten minutes.
func approvalObject(name, run string, uid types.UID, specHash string, approver user) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": v1alpha1.ActionApprovalKind,
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"actionRun": map[string]any{"name": run, "uid": string(uid)},
			"specHash": specHash, "approver": approver.name, "expiresAfterSeconds": int64(600)},
	}}
}

// noController is a release no controller runs: an ActionRun for it stays a record, which a test
// that creates the workload itself (as the controller would) names for the approval-gate step.
const noController = "no-controller"

// approvedRequest asks for a run of action with the step parameters params in ns (as its requester)
// for a release no controller runs, has its approver approve it, and returns the step parameters with
// where the approval-gate step finds them: what the controller passes once a person approved.
func approvedRequest(t testing.TB, ns, name, action string, params map[string]string) map[string]string {
	t.Helper()
	requester, approver := users(t, ns)
	obj := newActionRun(name, action, requestParameters(testenv.Action(t, action), params), "", requester)
	require.NoError(t, unstructured.SetNestedField(obj.Object, noController, "spec", "release"))
	created, err := requester.client.Resource(actionRunsGVR).Namespace(ns).Create(bg, obj, metav1.CreateOptions{})
	require.NoError(t, err, "create ActionRun %s/%s", ns, name)
	var run v1alpha1.ActionRun
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(created.Object, &run))
	require.NoError(t, approveRun(bg, ns, name, run.UID, controller.SpecHash(run.Spec), approver), "approve %s/%s", ns, name)
	out := maps.Clone(params)
	out["run"], out["approval"] = ns+"/"+name, name
	return out
}

// applyRun creates an ActionRun as requester, approves it as approver when the controller waits for
// approval, and waits for a final phase.
func applyRun(t testing.TB, ns, name, action string, params map[string]any, mode string, requester, approver user) *v1alpha1.ActionRun {
	t.Helper()
	created, err := requester.client.Resource(actionRunsGVR).Namespace(ns).Create(bg, newActionRun(name, action, params, mode, requester), metav1.CreateOptions{})
	require.NoError(t, err, "create ActionRun %s/%s", ns, name)
	approved := false
	var run *v1alpha1.ActionRun
	err = waitFor(bg, 240*time.Second, func() error {
		var err error
		if run, err = getRun(ns, name); err != nil {
			return err
		}
		if run.Status.Phase == v1alpha1.AwaitingApproval && !approved {
			if err := approveRun(bg, ns, name, created.GetUID(), run.Status.SpecHash, approver); err != nil {
				return fmt.Errorf("approve: %w", err)
			}
			approved = true
		}
		if !run.Status.Phase.Final() {
			return fmt.Errorf("run %s/%s is %q", ns, name, run.Status.Phase)
		}
		return nil
	})
	require.NoError(t, err)
	return run
}

func getRun(ns, name string) (*v1alpha1.ActionRun, error) {
	u, err := cluster.Dynamic.Resource(actionRunsGVR).Namespace(ns).Get(bg, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var run v1alpha1.ActionRun
	return &run, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &run)
}

// leftovers lists the per-run objects of this release that exist: after a run, none.
func leftovers(ctx context.Context, run *v1alpha1.ActionRun) []string {
	var out []string
	if run.Status.ServiceAccount == "" {
		return nil
	}
	if _, err := cluster.Client.CoreV1().ServiceAccounts(releaseNS).Get(ctx, run.Status.ServiceAccount, metav1.GetOptions{}); err == nil {
		out = append(out, "ServiceAccount "+run.Status.ServiceAccount)
	}
	if _, err := cluster.Client.RbacV1().RoleBindings(run.Namespace).Get(ctx, run.Status.ServiceAccount, metav1.GetOptions{}); err == nil {
		out = append(out, "RoleBinding "+run.Status.ServiceAccount)
	}
	if _, err := cluster.Client.RbacV1().ClusterRoleBindings().Get(ctx, run.Status.ServiceAccount, metav1.GetOptions{}); err == nil {
		out = append(out, "ClusterRoleBinding "+run.Status.ServiceAccount)
	}
	return out
}

// resultOf reads a finished run's Job pod as a Result, for the scenarios' effect checks.
func resultOf(t testing.TB, run *v1alpha1.ActionRun, params map[string]string) *Result {
	t.Helper()
	if run.Status.Workload.Kind == "TaskRun" {
		tr, err := cluster.Dynamic.Resource(tektonGVR("taskruns")).Namespace(releaseNS).Get(bg, run.Status.Workload.Name, metav1.GetOptions{})
		require.NoError(t, err)
		pod, _, _ := unstructured.NestedString(tr.Object, "status", "podName")
		return &Result{Name: tr.GetName(), Pod: pod, ns: releaseNS, params: params, containerPrefix: "step-"}
	}
	pods, err := cluster.Client.CoreV1().Pods(releaseNS).List(bg, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + run.Status.Workload.Name})
	require.NoError(t, err, "pods of Job %s", run.Status.Workload.Name)
	require.Len(t, pods.Items, 1, "pods of Job %s", run.Status.Workload.Name)
	return &Result{Name: run.Status.Workload.Name, Pod: pods.Items[0].Name, ns: releaseNS, params: params}
}

// usersIn are one requester and one approver per namespace, made once: in the release namespace
// every ServiceAccount takes a slot of the run budget.
var usersIn = map[string][2]user{}

func users(t testing.TB, ns string) (requester, approver user) {
	t.Helper()
	if u, ok := usersIn[ns]; ok {
		return u[0], u[1]
	}
	u := [2]user{userIn(t, ns, "alert-agent", "requester"), userIn(t, ns, "on-call", "approver")}
	usersIn[ns] = u
	return u[0], u[1]
}

// Every catalogue action, asked for with ActionRuns and carried out by the chart's own controller
// Deployment, in both modes (a Job, and a TaskRun of the chart's Task): each reaches Succeeded with
// its effect on the cluster, every step exited 0, and no per-run identity is left behind. The table
// is the per-action figure of the closing note (one run each; BenchmarkActionRun repeats them).
func TestEveryActionThroughTheController(t *testing.T) {
	installed(t)
	awaitController(t)
	cat := testenv.Catalogue(t)
	c, err := execution.Discover(bg, cluster.Client, releaseNS)
	require.NoError(t, err)
	steps := map[string][]string{}
	for _, a := range cat.Actions {
		ea, err := c.Lookup(cat, a.Name)
		require.NoError(t, err)
		steps[a.Name] = ea.Steps
	}
	var rows [][]string
	for _, mode := range []string{v1alpha1.ModeJob, v1alpha1.ModeTekton} {
		for _, a := range cat.Actions {
			t.Run(mode+"/"+a.Name, func(t *testing.T) {
				s := scenarioTable.For(t, a.Name)
				ns := targetNamespace(t, "ctl-"+mode+"-"+a.Name)
				params := s.params(t, ns)
				runNS := ns
				if a.Scope == catalogue.Cluster {
					runNS = releaseNS
				}
				requester, approver := users(t, runNS)
				run := applyRun(t, runNS, mode+"-"+a.Name, a.Name, requestParameters(a, params), mode, requester, approver)
				require.Equal(t, v1alpha1.Succeeded, run.Status.Phase, "run ended %s: %+v\noutput:\n%s", run.Status.Phase, run.Status.Conditions, run.Status.Output)
				require.Equal(t, map[string]string{v1alpha1.ModeJob: "Job", v1alpha1.ModeTekton: "TaskRun"}[mode], run.Status.Workload.Kind, "mode %s ran as a %s", mode, run.Status.Workload.Kind)
				// Every step of the action ran, in order, and exited 0.
				var got []string
				for _, st := range run.Status.Steps {
					got = append(got, st.Name)
				}
				require.Equal(t, steps[a.Name], got, "steps")
				for _, st := range run.Status.Steps {
					assert.Equal(t, ptr.To[int32](0), st.ExitCode, "step %s: exit code", st.Name)
				}
				require.NoError(t, s.effect(t, ns, resultOf(t, run, params)), "effect")
				require.NoError(t, waitFor(bg, 30*time.Second, func() error {
					if left := leftovers(bg, run); len(left) > 0 {
						return fmt.Errorf("left after the run: %v", left)
					}
					return nil
				}))
				rows = append(rows, []string{mode, a.Name, run.Status.CompletionTime.Sub(run.CreationTimestamp.Time).String(), run.Status.ApprovedBy})
			})
		}
	}
	printTable(t, []string{"MODE", "ACTION", "CREATE TO SUCCEEDED (1 s resolution)", "APPROVED BY"}, rows)
}

// Secrets never reach status or Events: custom-script lists a ConfigMap whose label holds a
// token-shaped value; the output tail in status and the run's Events show it redacted.
func TestControllerRedactsStatusAndEvents(t *testing.T) {
	installed(t)
	awaitController(t)
	ns := targetNamespace(t, "ctl-redact")
	token := "ghp_" + strings.Repeat("a1B2c3", 6)
	_, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "leaky",
		Labels: map[string]string{"app": "leaky", "token": token}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	requester := userIn(t, ns, "agent", "requester")
	approver := userIn(t, ns, "oncall", "approver")
	run := applyRun(t, ns, "list-leaky", "custom-script", map[string]any{"resource": "configmaps", "selector": "app=leaky"}, "", requester, approver)
	require.Equal(t, v1alpha1.Succeeded, run.Status.Phase, "run ended %s: %+v", run.Status.Phase, run.Status.Conditions)
	// Control: the token is in the step's own log, so the run did read it.
	require.Contains(t, resultOf(t, run, nil).Logs(bg, "execute"), token, "the execute step did not print the token (control)")
	require.Contains(t, run.Status.Output, "leaky", "status output lacks the listing")
	require.NotContains(t, run.Status.Output, token, "status output not redacted")
	require.Contains(t, run.Status.Output, "REDACTED", "status output not redacted")
	var notes []string
	require.NoError(t, waitFor(bg, 30*time.Second, func() error {
		events, err := cluster.Client.EventsV1().Events(ns).List(bg, metav1.ListOptions{})
		if err != nil {
			return err
		}
		notes = nil
		for _, e := range events.Items {
			if e.Regarding.Name == run.Name {
				notes = append(notes, e.Reason+": "+e.Note)
			}
		}
		if !strings.Contains(strings.Join(notes, "\n"), "Succeeded: ") {
			return fmt.Errorf("no Succeeded event yet: %v", notes)
		}
		return nil
	}))
	all := strings.Join(notes, "\n")
	require.NotContains(t, all, token, "events not redacted")
	require.Contains(t, all, "REDACTED", "events not redacted")
	// The controller's own log (through the redacting slog handler) does not carry it either.
	logs, err := cluster.Client.CoreV1().Pods(releaseNS).GetLogs(controllerPod(t).Name, &corev1.PodLogOptions{}).DoRaw(bg)
	require.NoError(t, err)
	require.False(t, strings.Contains(string(logs), token), "the controller logged the token")
	t.Logf("status output:\n%s\nevents:\n%s", run.Status.Output, all)
}

// Two replicas, as controller.replicas: 2 (and the high-availability component) run them: one leads
// through the Lease, the other stands by, ready. The leader is killed in the middle of a run; the
// standby takes the Lease and finishes the run it finds in status. The action ran once: one Job, one pod.
func TestControllerKilledMidRunFinishesOnce(t *testing.T) {
	installed(t)
	awaitController(t)
	name := release + "-controller"
	_, err := cluster.Client.AppsV1().Deployments(releaseNS).Patch(bg, name, types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = cluster.Client.AppsV1().Deployments(releaseNS).Patch(bg, name, types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	})
	require.NoError(t, waitFor(bg, 120*time.Second, func() error {
		d, err := cluster.Client.AppsV1().Deployments(releaseNS).Get(bg, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != 2 {
			return fmt.Errorf("%d of 2 controller replicas ready", d.Status.ReadyReplicas)
		}
		return nil
	}))
	ns := targetNamespace(t, "ctl-restart")
	deploy(t, ns, "slow", appImage("v1"), 2)
	requester := userIn(t, ns, "agent", "requester")
	obj := newActionRun("verify-slow", "verify-deployment", map[string]any{"deployment": "slow", "timeoutSeconds": int64(120)}, "", requester)
	_, err = requester.client.Resource(actionRunsGVR).Namespace(ns).Create(bg, obj, metav1.CreateOptions{})
	require.NoError(t, err)
	var run *v1alpha1.ActionRun
	require.NoError(t, waitFor(bg, 60*time.Second, func() error {
		var err error
		if run, err = getRun(ns, "verify-slow"); err != nil {
			return err
		}
		if run.Status.Phase != v1alpha1.Running {
			return fmt.Errorf("run is %q", run.Status.Phase)
		}
		return nil
	}))
	leader := controllerPod(t)
	killed := map[string]bool{string(leader.UID): true}
	require.NoError(t, cluster.Client.CoreV1().Pods(releaseNS).Delete(bg, leader.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	t.Logf("killed the controller while run %s was Running (Job %s)", run.Name, run.Status.Workload.Name)
	require.NoError(t, waitFor(bg, 240*time.Second, func() error {
		var err error
		if run, err = getRun(ns, "verify-slow"); err != nil {
			return err
		}
		if !run.Status.Phase.Final() {
			return fmt.Errorf("run is %q", run.Status.Phase)
		}
		return nil
	}))
	require.Equal(t, v1alpha1.Succeeded, run.Status.Phase, "run ended %s: %+v", run.Status.Phase, run.Status.Conditions)
	now := controllerPod(t)
	require.False(t, killed[string(now.UID)], "the killed controller pod %s still leads", now.Name)
	jobs, err := cluster.Client.BatchV1().Jobs(releaseNS).List(bg, metav1.ListOptions{})
	require.NoError(t, err)
	var mine []string
	for _, j := range jobs.Items {
		if strings.HasPrefix(j.Annotations[controller.RunAnnotation], ns+"/verify-slow/") {
			mine = append(mine, j.Name)
		}
	}
	runPods, err := cluster.Client.CoreV1().Pods(releaseNS).List(bg, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + run.Status.Workload.Name})
	require.NoError(t, err)
	require.Len(t, mine, 1, "Jobs the run executed")
	require.Len(t, runPods.Items, 1, "pods of the run's Job")
	require.Empty(t, leftovers(bg, run), "left")
}

// controllerPod is the controller pod holding the leader Lease.
func controllerPod(t testing.TB) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	require.NoError(t, waitFor(bg, 60*time.Second, func() error {
		lease, err := cluster.Client.CoordinationV1().Leases(releaseNS).Get(bg, release+"-controller", metav1.GetOptions{})
		if err != nil {
			return err
		}
		holder := ptr.Deref(lease.Spec.HolderIdentity, "")
		pods, err := cluster.Client.CoreV1().Pods(releaseNS).List(bg, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=controller"})
		if err != nil {
			return err
		}
		for _, p := range pods.Items {
			// controller-runtime's identity is <hostname>_<uuid>; the hostname is the pod's name.
			if p.DeletionTimestamp == nil && strings.HasPrefix(holder, p.Name+"_") {
				pod = p
				return nil
			}
		}
		return fmt.Errorf("no live controller pod holds the Lease (holder %q)", holder)
	}))
	return pod
}
