//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
)

var (
	actionRuns      = v1alpha1.GroupVersion.WithResource(v1alpha1.ActionRunResource)
	actionApprovals = v1alpha1.GroupVersion.WithResource(v1alpha1.ActionApprovalResource)
)

// person is a ServiceAccount standing for a person or an agent, bound to one of the chart's API roles
// in ns, with a dynamic client holding its token.
type person struct {
	user   string
	client dynamic.Interface
}

func personIn(t *testing.T, ns, name, role string) person {
	t.Helper()
	_, err := cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: release + "-" + role},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	token, err := cluster.Token(ctx, ns, name)
	require.NoError(t, err)
	return person{user: "system:serviceaccount:" + ns + ":" + name, client: dynamicAs(t, token)}
}

func dynamicAs(t *testing.T, token string) dynamic.Interface {
	t.Helper()
	_, c, err := cluster.As(token)
	require.NoError(t, err)
	return c
}

func actionRun(name, action, requester string, params map[string]any) *unstructured.Unstructured {
	spec := map[string]any{"action": action, "requester": requester}
	if params != nil {
		spec["parameters"] = params
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": v1alpha1.ActionRunKind,
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}
}

func approval(name string, run *unstructured.Unstructured, hash, approver string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": v1alpha1.ActionApprovalKind,
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"actionRun": map[string]any{"name": run.GetName(), "uid": string(run.GetUID())},
			"specHash":  hash, "approver": approver, "expiresAfterSeconds": int64(600),
		},
	}}
}

func create(c dynamic.Interface, gvr schema.GroupVersionResource, ns string, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return c.Resource(gvr).Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{})
}

// The API server refuses a malformed or untruthful request before any controller sees it: each case
// names the field, beside a control that is admitted.
func TestActionRunAPIRefusesMalformedRequests(t *testing.T) {
	installed(t)
	ns := namespace(t, "api-team", nil)
	agent := personIn(t, ns, "alert-agent", "requester")
	tb := &table{t: t}

	// Control: a well-formed request by the requester, naming itself.
	_, err := create(agent.client, actionRuns, ns, actionRun("ok", "scale-deployment", agent.user, map[string]any{"deployment": "web", "replicas": 3}))
	require.NoError(t, err)

	for _, c := range []struct {
		name, action string
		params       map[string]any
		requester    string
		want         string
	}{
		{"replicas not an integer", "scale-deployment", map[string]any{"deployment": "web", "replicas": "three"}, "", "spec.parameters.replicas"},
		{"replicas out of range", "scale-deployment", map[string]any{"deployment": "web", "replicas": 5000}, "", "scale-deployment takes an integer from 0 to 1000"},
		{"a mistyped parameter", "scale-deployment", map[string]any{"deployment": "web", "replica": 3}, "", "spec.parameters.replica: not a parameter of scale-deployment"},
		{"a required parameter missing", "scale-deployment", map[string]any{"replicas": 3}, "", "spec.parameters.deployment: required by scale-deployment"},
		{"a name that could be a flag", "restart-pod", map[string]any{"pod": "--all"}, "", "spec.parameters.pod"},
		{"another namespace as a parameter", "restart-pod", map[string]any{"pod": "web", "namespace": "kube-system"}, "", "spec.parameters.namespace: not a parameter of restart-pod"},
		{"an action not in the catalogue", "delete-namespace", nil, "", "spec.action"},
		{"a value outside the enum", "custom-script", map[string]any{"resource": "secrets", "selector": "app=web"}, "", "spec.parameters.resource"},
		{"a requester that is someone else", "scale-deployment", map[string]any{"deployment": "web", "replicas": 3}, "system:serviceaccount:" + ns + ":on-call", "spec.requester: must be the user creating the ActionRun"},
		{"a cluster action from a team namespace", "cordon-node", map[string]any{"node": "node-1"}, "", "cordon-node acts on the cluster"},
	} {
		requester := agent.user
		if c.requester != "" {
			requester = c.requester
		}
		_, err := create(agent.client, actionRuns, ns, actionRun("bad", c.action, requester, c.params))
		require.Error(t, err, c.name)
		require.True(t, apierrors.IsInvalid(err) || apierrors.IsForbidden(err), "%s: %v", c.name, err)
		require.Contains(t, err.Error(), c.want, c.name)
		tb.add(c.name, firstLine(err.Error()))
	}

	// The spec cannot change, not even by an administrator.
	run, err := cluster.Dynamic.Resource(actionRuns).Namespace(ns).Get(ctx, "ok", metav1.GetOptions{})
	require.NoError(t, err)
	require.NoError(t, unstructured.SetNestedField(run.Object, int64(4), "spec", "parameters", "replicas"))
	_, err = cluster.Dynamic.Resource(actionRuns).Namespace(ns).Update(ctx, run, metav1.UpdateOptions{})
	require.ErrorContains(t, err, "spec is immutable")
	tb.add("a changed spec (as an administrator)", firstLine(err.Error()))

	// Neither the controller nor a run identity asks for runs: RBAC refuses the controller; admission
	// would refuse it too (the dry-run as an administrator impersonating it shows the policy).
	controller := dynamicAs(t, mustToken(t, releaseNS, controllerSA))
	_, err = create(controller, actionRuns, ns, actionRun("stolen", "scale-deployment", "system:serviceaccount:"+releaseNS+":"+controllerSA, map[string]any{"deployment": "web", "replicas": 3}))
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	tb.add("the controller's token asks for a run", firstLine(err.Error()))
	tb.print("case", "refused with")
}

// Approvals are truthful about who approved, and no machine identity approves.
func TestActionApprovalAPI(t *testing.T) {
	installed(t)
	ns := namespace(t, "api-approvals", nil)
	agent := personIn(t, ns, "alert-agent", "requester")
	oncall := personIn(t, ns, "on-call", "approver")
	tb := &table{t: t}
	run, err := create(agent.client, actionRuns, ns, actionRun("needs-approval", "custom-script", agent.user, map[string]any{"resource": "pods", "selector": "app=web"}))
	require.NoError(t, err)
	hash := "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	// Control: the approver approves, naming itself.
	_, err = create(oncall.client, actionApprovals, ns, approval("ok", run, hash, oncall.user))
	require.NoError(t, err)

	_, err = create(oncall.client, actionApprovals, ns, approval("lie", run, hash, agent.user))
	require.ErrorContains(t, err, "spec.approver: must be the user creating the ActionApproval")
	tb.add("an approver naming someone else", firstLine(err.Error()))

	_, err = create(agent.client, actionApprovals, ns, approval("self", run, hash, agent.user))
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	tb.add("the requester (RBAC: requesters do not approve)", firstLine(err.Error()))

	controller := dynamicAs(t, mustToken(t, releaseNS, controllerSA))
	_, err = create(controller, actionApprovals, ns, approval("stolen", run, hash, "system:serviceaccount:"+releaseNS+":"+controllerSA))
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	tb.add("the controller's token", firstLine(err.Error()))

	// The controller's token, were an administrator to grant it the approver role by mistake, is
	// refused by the API's admission policy.
	_, err = cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mistake"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: release + "-approver"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: controllerSA, Namespace: releaseNS}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		_, err := controller.Resource(actionApprovals).Namespace(ns).List(ctx, metav1.ListOptions{})
		return err
	}), "the controller holds the approver role by mistake")
	_, err = create(controller, actionApprovals, ns, approval("stolen", run, hash, "system:serviceaccount:"+releaseNS+":"+controllerSA))
	refusedByPolicy(t, err, "the controller and run identities may not approve runs")
	tb.add("the controller's token holding the approver role", firstLine(err.Error()))

	// A run identity that somehow holds the approver role is refused by admission too: its run
	// contract admits no such request, and the API's policy refuses every run identity.
	rogue := runPrefix + "custom-script." + ns + ".rogue"
	_, err = cluster.Client.CoreV1().ServiceAccounts(releaseNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: rogue}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().ServiceAccounts(releaseNS).Delete(context.Background(), rogue, metav1.DeleteOptions{})
	})
	_, err = cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "rogue"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: release + "-approver"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: rogue, Namespace: releaseNS}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	rogueUser := "system:serviceaccount:" + releaseNS + ":" + rogue
	rogueClient := dynamicAs(t, mustToken(t, releaseNS, rogue))
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		_, err := rogueClient.Resource(actionApprovals).Namespace(ns).List(ctx, metav1.ListOptions{})
		return err
	}), "the rogue run identity holds the approver role")
	_, err = create(rogueClient, actionApprovals, ns, approval("rogue", run, hash, rogueUser))
	// Both policies refuse it; the API server reports whichever it evaluated first.
	require.ErrorContains(t, err, "ValidatingAdmissionPolicy")
	require.True(t, strings.Contains(err.Error(), "execution.kubernaut.io/actionapprovals/CREATE") ||
		strings.Contains(err.Error(), "the controller and run identities may not approve runs"), "%v", err)
	tb.add("a run identity holding the approver role", firstLine(err.Error()))
	tb.print("case", "refused with")
}

func mustToken(t *testing.T, ns, sa string) string {
	t.Helper()
	token, err := cluster.Token(ctx, ns, sa)
	require.NoError(t, err)
	return token
}
