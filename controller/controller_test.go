package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/controller"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/redact"
)

func run(params map[string]intstr.IntOrString) *v1alpha1.ActionRun {
	return &v1alpha1.ActionRun{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web", Namespace: "shop", UID: types.UID("11111111-2222-3333-4444-555555555555")},
		Spec:       v1alpha1.ActionRunSpec{Action: "scale-deployment", Requester: "alice", Parameters: params},
	}
}

func TestJudgeCountsOnlyAnApprovalOfThisExactRunByAnotherPerson(t *testing.T) {
	r := run(map[string]intstr.IntOrString{"deployment": intstr.FromString("web"), "replicas": intstr.FromInt32(3)})
	created := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	valid := func() *v1alpha1.ActionApproval {
		return &v1alpha1.ActionApproval{
			ObjectMeta: metav1.ObjectMeta{Name: "ok", Namespace: "shop", CreationTimestamp: metav1.NewTime(created)},
			Spec: v1alpha1.ActionApprovalSpec{ActionRun: v1alpha1.RunReference{Name: r.Name, UID: string(r.UID)},
				SpecHash: controller.SpecHash(r.Spec), Approver: "bob", ExpiresAfterSeconds: 600},
		}
	}
	machine := func(u string) bool {
		return u == "system:serviceaccount:kubernaut-system:kubernaut-execution-controller"
	}
	now := created.Add(time.Minute)
	require.Empty(t, controller.Judge(r, valid(), now, machine).Refused, "control: a valid approval counts")

	for name, c := range map[string]struct {
		mutate func(a *v1alpha1.ActionApproval)
		now    time.Time
		want   string
	}{
		"by the requester":  {func(a *v1alpha1.ActionApproval) { a.Spec.Approver = "alice" }, now, "run's own requester alice"},
		"stale spec hash":   {func(a *v1alpha1.ActionApproval) { a.Spec.SpecHash = "sha256:" + strings.Repeat("0", 64) }, now, "is for spec"},
		"an earlier run":    {func(a *v1alpha1.ActionApproval) { a.Spec.ActionRun.UID = "99999999-2222-3333-4444-555555555555" }, now, "an earlier run of the same name"},
		"another run":       {func(a *v1alpha1.ActionApproval) { a.Spec.ActionRun.Name = "other" }, now, "names another run"},
		"another namespace": {func(a *v1alpha1.ActionApproval) { a.Namespace = "elsewhere" }, now, "names another run"},
		"expired":           {func(*v1alpha1.ActionApproval) {}, created.Add(600 * time.Second), "expired at 2026-12-07T10:10:00Z"},
		"by the controller": {func(a *v1alpha1.ActionApproval) {
			a.Spec.Approver = "system:serviceaccount:kubernaut-system:kubernaut-execution-controller"
		}, now, "machine identity"},
	} {
		t.Run(name, func(t *testing.T) {
			a := valid()
			c.mutate(a)
			require.Contains(t, controller.Judge(r, a, c.now, machine).Refused, c.want)
		})
	}
}

func TestSpecHashChangesWithEveryField(t *testing.T) {
	base := run(map[string]intstr.IntOrString{"deployment": intstr.FromString("web"), "replicas": intstr.FromInt32(3)}).Spec
	seen := map[string]string{controller.SpecHash(base): "base"}
	for name, mutate := range map[string]func(s *v1alpha1.ActionRunSpec){
		"action":         func(s *v1alpha1.ActionRunSpec) { s.Action = "restart-pod" },
		"requester":      func(s *v1alpha1.ActionRunSpec) { s.Requester = "mallory" },
		"mode":           func(s *v1alpha1.ActionRunSpec) { s.Mode = v1alpha1.ModeJob },
		"a value":        func(s *v1alpha1.ActionRunSpec) { s.Parameters["replicas"] = intstr.FromInt32(30) },
		"a value's type": func(s *v1alpha1.ActionRunSpec) { s.Parameters["replicas"] = intstr.FromString("3") },
		"a parameter name": func(s *v1alpha1.ActionRunSpec) {
			s.Parameters["replica"] = s.Parameters["replicas"]
			delete(s.Parameters, "replicas")
		},
	} {
		s := *base.DeepCopy()
		mutate(&s)
		h := controller.SpecHash(s)
		require.NotContains(t, seen, h, "%s gives the same hash as %s", name, seen[h])
		seen[h] = name
	}
	require.Equal(t, controller.SpecHash(base), controller.SpecHash(*base.DeepCopy()), "the hash is stable")
}

// The approval-gate step computes the hash in Rego from the ActionRun it reads: it must be the
// controller's for every spec, also with characters encoding/json escapes (<, >, &, U+2028) and
// fields left out. A Go change of the canonical form (say, SetEscapeHTML(false)) fails here.
func TestSpecHashIsTheGatesSpecHash(t *testing.T) {
	ctx := context.Background()
	query, err := rego.New(rego.Query("data.kubernaut.gate.spec_hash(input)"),
		rego.Load([]string{"../policies/lib/gate.rego", "../policies/lib/lib.rego"}, nil)).PrepareForEval(ctx)
	require.NoError(t, err)
	for name, spec := range map[string]v1alpha1.ActionRunSpec{
		"no parameters": {Action: "cordon-node", Requester: "alice"},
		"every field": {Action: "scale-deployment", Mode: v1alpha1.ModeTekton, Release: "kx", Requester: "system:serviceaccount:shop:agent",
			Parameters: map[string]intstr.IntOrString{"replicas": intstr.FromInt32(3), "deployment": intstr.FromString("web")}},
		"escaped characters": {Action: "custom-script", Requester: "o'neil <ops> & co\u2028",
			Parameters: map[string]intstr.IntOrString{"selector": intstr.FromString(`app in (a,b),tier!="x"<>&\u2028é😀`)}},
		"a large integer": {Action: "scale-deployment", Requester: "a", Parameters: map[string]intstr.IntOrString{"replicas": intstr.FromInt32(2147483647)}},
	} {
		t.Run(name, func(t *testing.T) {
			// The step reads the spec as the API server serves it: JSON, empty fields left out.
			data, err := json.Marshal(spec)
			require.NoError(t, err)
			var served map[string]any
			require.NoError(t, json.Unmarshal(data, &served))
			rs, err := query.Eval(ctx, rego.EvalInput(served))
			require.NoError(t, err)
			require.Len(t, rs, 1)
			require.Equal(t, controller.SpecHash(spec), rs[0].Expressions[0].Value)
		})
	}
}

func TestParametersTakeTheNamespaceFromTheActionRun(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	a, ok := cat.Action("scale-deployment")
	require.True(t, ok)
	got, err := controller.Parameters(a, run(map[string]intstr.IntOrString{"deployment": intstr.FromString("web"), "replicas": intstr.FromInt32(3)}))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"namespace": "shop", "deployment": "web", "replicas": "3"}, got)

	_, err = controller.Parameters(a, run(map[string]intstr.IntOrString{"namespace": intstr.FromString("kube-system")}))
	require.ErrorContains(t, err, "spec.parameters.namespace: not a parameter of scale-deployment")
	_, err = controller.Parameters(a, run(map[string]intstr.IntOrString{"replica": intstr.FromInt32(3)}))
	require.ErrorContains(t, err, "spec.parameters.replica")
}

func TestJobNameIsOnePerRun(t *testing.T) {
	a := run(nil)
	b := a.DeepCopy()
	require.Equal(t, controller.JobName(a), controller.JobName(b), "the same run gets the same Job after a restart")
	b.UID = "99999999-2222-3333-4444-555555555555"
	require.NotEqual(t, controller.JobName(a), controller.JobName(b), "a later run of the same name gets another Job")
	long := a.DeepCopy()
	long.Spec.Action = "an-action-name-that-is-very-long-indeed-and-goes-on-and-on"
	require.LessOrEqual(t, len(controller.JobName(long)), 63)
}

// The target context comes from the live objects: a caller cannot leave a node's control-plane role
// out, nor claim an environment its namespace does not have.
func TestTargetContextReadsTheLiveObjects(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	c := &execution.Contract{Targets: execution.Targets{EnvironmentLabel: execution.EnvironmentLabel}}
	kube := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{execution.EnvironmentLabel: "production"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lab", Labels: map[string]string{execution.EnvironmentLabel: "moon"}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cp-1", Labels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4)}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-x", Controller: ptr.To(true)}}}},
	)
	ctxOf := func(action, ns string, params map[string]string) map[string]any {
		t.Helper()
		a, ok := cat.Action(action)
		require.True(t, ok)
		s, err := controller.TargetContext(context.Background(), kube, c, a, ns, params)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(s), &m))
		return m
	}
	cordon := ctxOf("cordon-node", "", map[string]string{"node": "cp-1"})
	require.Contains(t, cordon["labels"], "node-role.kubernetes.io/control-plane")
	require.Equal(t, "unknown", cordon["environment"])

	scale := ctxOf("scale-deployment", "shop", map[string]string{"deployment": "web"})
	require.Equal(t, "production", scale["environment"])
	require.EqualValues(t, 4, scale["currentReplicas"])
	require.Equal(t, map[string]any{"app": "web"}, scale["labels"])

	restart := ctxOf("restart-pod", "shop", map[string]string{"pod": "web-1"})
	require.Equal(t, "ReplicaSet", restart["ownerKind"])

	require.Equal(t, "unknown", ctxOf("patch-configmap", "lab", map[string]string{"configmap": "x"})["environment"], "a label outside the gate's list is unknown")

	a, _ := cat.Action("restart-pod")
	_, err = controller.TargetContext(context.Background(), kube, c, a, "shop", map[string]string{"pod": "gone"})
	var te *controller.TargetError
	require.ErrorAs(t, err, &te)
	require.ErrorContains(t, err, "target pod shop/gone not found")
}

// Each release's controller runs only the ActionRuns naming its release: another release's run is left
// untouched (no finalizer, no status), its own is taken up (here refused: no such action).
func TestReconcileTakesOnlyItsOwnReleasesRuns(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	cat, err := catalogue.Default()
	require.NoError(t, err)
	mk := func(name, release string) *v1alpha1.ActionRun {
		return &v1alpha1.ActionRun{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID(name)},
			Spec: v1alpha1.ActionRunSpec{Action: "no-such-action", Requester: "alice", Release: release}}
	}
	theirs, mine := mk("theirs", "other"), mk("mine", "kx")
	c := ctrlfake.NewClientBuilder().WithScheme(scheme).WithObjects(theirs, mine).WithStatusSubresource(&v1alpha1.ActionRun{}).Build()
	r := &controller.Reconciler{Client: c, Contract: &execution.Contract{Release: "kx", Namespace: "kx-system"}, Catalogue: cat,
		Redactor: redact.Default(), Recorder: events.NewFakeRecorder(10)}
	for _, name := range []string{"theirs", "mine"} {
		_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "shop", Name: name}})
		require.NoError(t, err)
	}
	var got v1alpha1.ActionRun
	require.NoError(t, c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "theirs"}, &got))
	require.Empty(t, got.Status.Phase, "another release's run is not touched")
	require.Empty(t, got.Finalizers)
	require.NoError(t, c.Get(context.Background(), types.NamespacedName{Namespace: "shop", Name: "mine"}, &got))
	require.Equal(t, v1alpha1.Refused, got.Status.Phase, "the control: its own run is taken up")
	require.Contains(t, got.Status.Conditions[0].Message, `unknown action "no-such-action"`)
}
