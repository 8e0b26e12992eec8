package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/gen/render"
)

// The shared installation: the chart as release kubernaut-execution in kubernaut-system, installed
// once with the Helm SDK for the tests that need a bundle in place.
var (
	sharedInstall    sync.Once
	sharedInstallErr error
)

// installed installs the shared release on first use; a failure fails every test that needs it. The
// fixture returns errors inside the Once: a require there would stop only the first caller, and the
// others would run against a half-installed release.
func installed(t testing.TB) {
	t.Helper()
	sharedInstall.Do(func() { sharedInstallErr = installShared() })
	require.NoError(t, sharedInstallErr, "shared installation")
}

func installShared() error {
	if err := cluster.installTektonCRDs(context.Background()); err != nil {
		return err
	}
	ch, err := render.LoadChart(chartDir, nil)
	if err != nil {
		return err
	}
	cfg, err := helmConfiguration(releaseNS)
	if err != nil {
		return err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace, install.CreateNamespace = release, releaseNS, true
	if _, err := install.Run(ch, values(nil)); err != nil {
		return fmt.Errorf("helm install: %w", err)
	}
	return waitForAdmissionPolicy()
}

// waitForAdmissionPolicy waits until the API server enforces the chart's ValidatingAdmissionPolicy: it
// loads new policies asynchronously, so right after an install only RBAC guards the controller. The
// probe is a dry-run binding the policy must refuse.
func waitForAdmissionPolicy() error {
	controller, err := controllerClientE()
	if err != nil {
		return err
	}
	probe := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vap-probe", Namespace: releaseNS},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: actionRole("verify-deployment")},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "not-a-run", Namespace: releaseNS}}}
	return waitFor(context.Background(), 30*time.Second, func() error {
		_, err := controller.RbacV1().RoleBindings(releaseNS).Create(context.Background(), probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			return nil
		}
		return fmt.Errorf("admission policy not enforced yet (%v)", err)
	})
}

func mustCatalogue(t testing.TB) *catalogue.Catalogue {
	c, err := catalogue.Default()
	require.NoError(t, err)
	return c
}

// Names the chart gives, for release kubernaut-execution.
func actionRole(action string) string { return release + "-action-" + action }

const (
	controllerSA = release + "-controller"
	runPrefix    = release + "-run-"
)

// controllerClient is a client acting as the controller's own ServiceAccount.
func controllerClient(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := controllerClientE()
	require.NoError(t, err)
	return c
}

func controllerClientE() (kubernetes.Interface, error) {
	token, err := cluster.Token(context.Background(), releaseNS, controllerSA)
	if err != nil {
		return nil, fmt.Errorf("controller token: %w", err)
	}
	return cluster.As(token)
}

// Run is what the controller makes for one action run: a ServiceAccount in the release namespace and a
// binding of the action's ClusterRole to it, in the target namespace (or cluster-wide), labelled with
// the run so that they can be found and removed.
type Run struct {
	ID, ServiceAccount string
	Action             catalogue.Action
	Namespace          string // target namespace of a Namespaced action
}

func runLabels(id, action string) map[string]string {
	return map[string]string{"kubernaut.io/run": id, "kubernaut.io/action": action}
}

// provision creates a run's ServiceAccount and binding as the controller does, with its client.
func provision(ctx context.Context, controller kubernetes.Interface, a catalogue.Action, id, targetNS string) (*Run, error) {
	r := &Run{ID: id, ServiceAccount: runPrefix + id, Action: a, Namespace: targetNS}
	meta := metav1.ObjectMeta{Name: r.ServiceAccount, Labels: runLabels(id, a.Name)}
	sa := &corev1.ServiceAccount{ObjectMeta: meta}
	sa.Namespace = releaseNS
	if _, err := controller.CoreV1().ServiceAccounts(releaseNS).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create ServiceAccount: %w", err)
	}
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: actionRole(a.Name)}
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
	return r, nil
}

// bindingNamespace is where the run's permissions apply: the target namespace, or "" cluster-wide.
func (r *Run) bindingNamespace() string {
	if r.Action.Scope == catalogue.Cluster {
		return ""
	}
	return r.Namespace
}

// remove deletes a run's binding and ServiceAccount as the controller does.
func (r *Run) remove(ctx context.Context, controller kubernetes.Interface) error {
	var err error
	if r.Action.Scope == catalogue.Cluster {
		err = controller.RbacV1().ClusterRoleBindings().Delete(ctx, r.ServiceAccount, metav1.DeleteOptions{})
	} else {
		err = controller.RbacV1().RoleBindings(r.Namespace).Delete(ctx, r.ServiceAccount, metav1.DeleteOptions{})
	}
	if err != nil {
		return err
	}
	return controller.CoreV1().ServiceAccounts(releaseNS).Delete(ctx, r.ServiceAccount, metav1.DeleteOptions{})
}
