//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// table collects rows and prints them aligned through the test log.
type table struct {
	t    *testing.T
	rows [][]string
}

func (tb *table) add(cells ...string) { tb.rows = append(tb.rows, cells) }

func (tb *table) print(header ...string) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, r := range tb.rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	_ = w.Flush()
	tb.t.Log("\n" + b.String())
}

// allowed asks the API server's own authorizer (SubjectAccessReview).
func allowed(t *testing.T, ns, sa, verb, group, resource, inNamespace string) bool {
	t.Helper()
	ok, err := testenv.ServiceAccountAllowed(context.Background(), cluster.Client, ns, sa,
		testenv.FirstOf(rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{group}, Resources: []string{resource}}, inNamespace))
	require.NoError(t, err)
	return ok
}

// awaitAuthorized waits until the authorizer, which reads RBAC through informers, grants a
// ServiceAccount the first permission of rules (in namespace; "" for cluster-wide).
func awaitAuthorized(t testing.TB, saNS, sa string, rules []rbacv1.PolicyRule, namespace string) {
	t.Helper()
	if len(rules) == 0 {
		return
	}
	require.NoError(t, testenv.AwaitServiceAccountAllowed(context.Background(), cluster.Client, saNS, sa, testenv.FirstOf(rules[0], namespace)))
}

func yesNo(b bool) string { return map[bool]string{true: "allowed", false: "denied"}[b] }

// each calls f for every (group, resource, verb) an action's rules grant.
func each(a catalogue.Action, f func(group, resource, verb string)) {
	for _, r := range a.PolicyRules() {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					f(g, res, v)
				}
			}
		}
	}
}

// contextReads are the resources whose objects the controller gets by name for a run's target context.
var contextReads = map[string]bool{"/namespaces": true, "/nodes": true, "/pods": true, "apps/deployments": true}

// The controller, acting as itself, and per-run ServiceAccounts, through the server's authorizer.
func TestRBACThroughTheAuthorizer(t *testing.T) {
	installed(t)
	ctx := context.Background()
	target := namespace(t, "rbac-target", nil)
	other := namespace(t, "rbac-other", nil)
	controller := controllerClient(t)
	tb := &table{t: t}
	expect := func(subject, what string, want, got bool) {
		tb.add(subject, what, yesNo(want), yesNo(got))
		require.Equal(t, want, got, "%s: %s", subject, what)
	}

	for _, a := range testenv.Catalogue(t).Actions {
		run, err := provision(ctx, controller, a, "rbac-"+a.Name, target)
		kind := map[catalogue.Scope]string{catalogue.Namespaced: "RoleBinding in " + target, catalogue.Cluster: "ClusterRoleBinding"}[a.Scope]
		expect("controller", fmt.Sprintf("create %s to %s for a run", kind, actionRole(a.Name)), true, err == nil)
		require.NoError(t, err)
		awaitAuthorized(t, releaseNS, run.ServiceAccount, a.PolicyRules(), run.bindingNamespace())
		each(a, func(g, res, v string) {
			where := target
			if a.Scope == catalogue.Cluster {
				where = ""
			}
			// The controller reads one target object by name (get) for a run's target context; no
			// other permission of an action is its own.
			expect("controller", fmt.Sprintf("%s %s/%s (action %s) itself", v, g, res, a.Name), v == "get" && contextReads[g+"/"+res], allowed(t, releaseNS, controllerSA, v, g, res, where))
			expect("run of "+a.Name, fmt.Sprintf("%s %s/%s in %s", v, g, res, or(where, "the cluster")), true, allowed(t, releaseNS, run.ServiceAccount, v, g, res, where))
			if a.Scope == catalogue.Namespaced {
				expect("run of "+a.Name, fmt.Sprintf("%s %s/%s in %s", v, g, res, other), false, allowed(t, releaseNS, run.ServiceAccount, v, g, res, other))
			}
		})
		require.NoError(t, run.remove(ctx, controller))
	}

	for _, role := range []string{"cluster-admin", "admin", "edit"} {
		_, err := controller.RbacV1().RoleBindings(target).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "escalate-" + role, Labels: runLabels("x", "edit")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: runPrefix + "x", Namespace: releaseNS}},
		}, metav1.CreateOptions{})
		expect("controller", "bind ClusterRole "+role, false, err == nil)
		require.True(t, apierrors.IsForbidden(err) || apierrors.IsInvalid(err), "%v", err)
	}
	_, err := controller.RbacV1().Roles(target).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-deleter"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"delete"}}},
	}, metav1.CreateOptions{})
	expect("controller", "create a Role granting pods delete", false, err == nil)
	require.True(t, apierrors.IsForbidden(err), "%v", err)
	expect("controller", "get secrets in "+target, false, allowed(t, releaseNS, controllerSA, "get", "", "secrets", target))
	expect("controller", "list secrets in the cluster", false, allowed(t, releaseNS, controllerSA, "list", "", "secrets", ""))

	tb.print("SUBJECT", "REQUEST", "WANT", "GOT")
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// Static mode: the pre-created per-action ServiceAccounts behave like per-run ones.
func TestStaticModeServiceAccounts(t *testing.T) {
	installed(t)
	const name, ns = "kx-static", "kx-static"
	bound, unbound := namespace(t, "static-a", nil), namespace(t, "static-b", nil)
	_, err := newInstall(t, name, ns).Run(loadChart(t), values(map[string]any{"rbac": map[string]any{"mode": "static", "static": map[string]any{"namespaces": []any{bound}}}}))
	require.NoError(t, err)
	tb := &table{t: t}
	for _, a := range testenv.Catalogue(t).Actions {
		sa := name + "-kubernaut-execution-action-" + a.Name
		awaitAuthorized(t, ns, sa, a.PolicyRules(), map[catalogue.Scope]string{catalogue.Namespaced: bound}[a.Scope])
		each(a, func(g, res, v string) {
			if a.Scope == catalogue.Cluster {
				got := allowed(t, ns, sa, v, g, res, "")
				tb.add(sa, fmt.Sprintf("%s %s/%s in the cluster", v, g, res), yesNo(got))
				require.True(t, got)
				return
			}
			in, out := allowed(t, ns, sa, v, g, res, bound), allowed(t, ns, sa, v, g, res, unbound)
			tb.add(sa, fmt.Sprintf("%s %s/%s in %s / %s", v, g, res, bound, unbound), yesNo(in)+" / "+yesNo(out))
			require.True(t, in)
			require.False(t, out)
		})
	}
	tb.print("SERVICEACCOUNT", "REQUEST", "GOT")
	// Nor can a static-mode ServiceAccount change what guards its release's runs.
	guards := &table{t: t}
	for _, a := range testenv.Catalogue(t).Actions {
		requireCannotChangeGuards(t, guards, ns, name+"-kubernaut-execution", name+"-kubernaut-execution-action-"+a.Name, false)
	}
	guards.print("SERVICEACCOUNT", "REQUEST", "WANT", "AUTHORIZER")
}

// The ValidatingAdmissionPolicy refuses what a compromised controller would try, and allows a run.
func TestAdmissionPolicyOnControllerBindings(t *testing.T) {
	installed(t)
	ctx := context.Background()
	target := namespace(t, "vap-target", nil)
	unmanaged := unmanagedNamespace(t, "vap-unmanaged")
	controller := controllerClient(t)
	binding := func(name, role string, labels map[string]string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}, Subjects: subjects}
	}
	runSA := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: runPrefix + "scale-deployment." + target + ".vap", Namespace: releaseNS}
	otherRunSA := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: runPrefix + "delete-pod." + target + ".vap", Namespace: releaseNS}
	elsewhereSA := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: runPrefix + "scale-deployment." + unmanaged + ".vap", Namespace: releaseNS}
	const notTheRuns = "the only subject must be the ServiceAccount of the binding's own run, action and namespace"
	// RBAC's escalation check already refuses `edit` to the controller; grant it `bind` on edit so
	// that only the admission policy stands in the way, which shows the policy as a layer of its own.
	grant := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "vap-test-bind-edit"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, Verbs: []string{"bind"}, ResourceNames: []string{"edit"}}}}
	_, err := cluster.Client.RbacV1().ClusterRoles().Create(ctx, grant, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cluster.Client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: grant.ObjectMeta,
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: grant.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: controllerSA, Namespace: releaseNS}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Client.RbacV1().ClusterRoleBindings().Delete(ctx, grant.Name, metav1.DeleteOptions{})
		_ = cluster.Client.RbacV1().ClusterRoles().Delete(ctx, grant.Name, metav1.DeleteOptions{})
	})
	// The authorizer reads RBAC through informers: wait until it sees the grant.
	require.NoError(t, testenv.AwaitServiceAccountAllowed(ctx, cluster.Client, releaseNS, controllerSA,
		authorizationv1.ResourceAttributes{Verb: "bind", Group: rbacv1.GroupName, Resource: "clusterroles", Name: "edit"}))
	for _, tc := range []struct {
		name string
		rb   *rbacv1.RoleBinding
		want string
	}{
		{"bind edit", binding("a", "edit", runLabels("vap", "edit"), runSA), "the controller may only bind the per-action ClusterRoles"},
		{"a subject that is not a run's", binding("b", actionRole("scale-deployment"), runLabels("vap", "scale-deployment"),
			rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "default", Namespace: releaseNS}), notTheRuns},
		{"two subjects", binding("c", actionRole("scale-deployment"), runLabels("vap", "scale-deployment"), runSA, runSA), notTheRuns},
		{"no run labels", binding("d", actionRole("scale-deployment"), nil, runSA), notTheRuns},
		// A run's identity is named for one action: it cannot be bound to another.
		{"another action's run identity", binding("f", actionRole("scale-deployment"), runLabels("vap", "scale-deployment"), otherRunSA), notTheRuns},
		{"another run's identity", binding("g", actionRole("scale-deployment"), runLabels("other", "scale-deployment"), runSA), notTheRuns},
		{"labels naming another action", binding("e", actionRole("scale-deployment"), runLabels("vap", "delete-pod"), otherRunSA), "must carry the run's labels"},
		// One run, one target: a run identity made for one namespace is not bound in another.
		{"another namespace's run identity", binding("i", actionRole("scale-deployment"), runLabels("vap", "scale-deployment"), elsewhereSA), notTheRuns},
		{"a namespace nobody opted in", binding("h", actionRole("scale-deployment"), runLabels("vap", "scale-deployment"), elsewhereSA), "is not a target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := target
			if tc.name == "a namespace nobody opted in" {
				ns = unmanaged
			}
			_, err := controller.RbacV1().RoleBindings(ns).Create(ctx, tc.rb, metav1.CreateOptions{})
			require.Error(t, err)
			require.Contains(t, err.Error(), "ValidatingAdmissionPolicy")
			require.Contains(t, err.Error(), tc.want)
		})
	}
	_, err = controller.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: runPrefix + "vap-crb", Labels: runLabels("vap", "scale-deployment")},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: actionRole("scale-deployment")},
		Subjects:   []rbacv1.Subject{runSA},
	}, metav1.CreateOptions{})
	require.ErrorContains(t, err, "a ClusterRoleBinding may only bind a Cluster-scoped action's ClusterRole")

	legit := binding(runPrefix+"vap", actionRole("scale-deployment"), runLabels("vap", "scale-deployment"), runSA)
	_, err = controller.RbacV1().RoleBindings(target).Create(ctx, legit, metav1.CreateOptions{})
	require.NoError(t, err)
}
