package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jordigilh/kubernaut-execution/catalogue"
)

// The shared installation: the chart as release kubernaut-execution in kubernaut-system, installed
// once with the Helm SDK for the tests that need a bundle in place.
var (
	sharedInstall    sync.Once
	sharedInstallErr error
)

// installed installs the shared release on first use; a failure fails every test that needs it. The
// Once only records the error: a require inside it would end the first test and leave the Once done
// with no error for every later one.
func installed(t testing.TB) {
	t.Helper()
	sharedInstall.Do(func() {
		if sharedInstallErr = tektonCRDsInstalled(); sharedInstallErr != nil {
			return
		}
		if _, sharedInstallErr = newInstall(t, release, releaseNS).Run(loadChart(t), values(nil)); sharedInstallErr == nil {
			sharedInstallErr = waitForAdmissionPolicies(t)
		}
	})
	require.NoError(t, sharedInstallErr, "shared installation")
}

// waitForAdmissionPolicies waits until the API server enforces the chart's three
// ValidatingAdmissionPolicies: it loads new policies asynchronously, so right after an install only
// RBAC guards the controller. Each probe is a dry-run create its policy must refuse.
func waitForAdmissionPolicies(t testing.TB) error {
	token, err := cluster.Token(context.Background(), releaseNS, controllerSA)
	if err != nil {
		return err
	}
	controller, err := cluster.As(token)
	if err != nil {
		return err
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	probes := map[string]func(ctx context.Context) error{
		"bindings": func(ctx context.Context) error {
			_, err := controller.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vap-probe"},
				RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: actionRole("verify-deployment")},
				Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "not-a-run", Namespace: releaseNS}}}, dry)
			return err
		},
		"serviceaccounts": func(ctx context.Context) error {
			_, err := controller.CoreV1().ServiceAccounts(releaseNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "vap-probe"}}, dry)
			return err
		},
		"workloads": func(ctx context.Context) error {
			_, err := controller.BatchV1().Jobs(releaseNS).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "vap-probe"},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "probe", Image: "probe"}}}}}}, dry)
			return err
		},
	}
	for name, probe := range probes {
		if err := waitFor(context.Background(), 30*time.Second, func() error {
			err := probe(context.Background())
			if err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
				return nil
			}
			return fmt.Errorf("admission policy %s not enforced yet (%v)", name, err)
		}); err != nil {
			return err
		}
	}
	return nil
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
	token, err := cluster.Token(context.Background(), releaseNS, controllerSA)
	require.NoError(t, err)
	c, err := cluster.As(token)
	require.NoError(t, err)
	return c
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
