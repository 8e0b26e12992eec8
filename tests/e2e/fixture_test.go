//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
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
	if err := tektonCRDsInstalled(); err != nil {
		return err
	}
	// The chart as users install it: from an OCI registry, signed, verified on the way.
	work, err := os.MkdirTemp(cluster.Dir, "oci-")
	if err != nil {
		return err
	}
	ch, ref, err := testenv.PublishedChart(root, chartDir, work)
	if err != nil {
		return err
	}
	fmt.Printf("e2e: installing the shared release from %s (signed, verified)\n", ref)
	cfg, err := helmConfiguration(releaseNS)
	if err != nil {
		return err
	}
	if err := restrictedNamespace(cluster.Client, releaseNS); err != nil {
		return err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = release, releaseNS
	if _, err := install.Run(ch, values(map[string]any{"crds": map[string]any{"install": true, "keep": true}})); err != nil {
		return fmt.Errorf("helm install: %w", err)
	}
	return waitForAdmissionPolicies()
}

// waitForAdmissionPolicies waits until the API server enforces the chart's three
// ValidatingAdmissionPolicies: it loads new policies asynchronously, so right after an install only
// RBAC guards the controller. Each probe is a dry-run create its policy must refuse.
func waitForAdmissionPolicies() error {
	controller, err := controllerClientE()
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
	// The API's policies: an administrator naming someone else as requester or approver.
	probes["action-runs"] = func(ctx context.Context) error {
		_, err := cluster.Dynamic.Resource(actionRuns).Namespace("default").Create(ctx, actionRun("vap-probe", "restart-pod", "someone-else", map[string]any{"pod": "web"}), dry)
		return err
	}
	probes["action-approvals"] = func(ctx context.Context) error {
		run := actionRun("vap-probe", "verify-deployment", "someone-else", nil)
		run.SetUID("00000000-0000-0000-0000-000000000000")
		_, err := cluster.Dynamic.Resource(actionApprovals).Namespace("default").Create(ctx, approval("vap-probe", run, "sha256:"+strings.Repeat("0", 64), "someone-else"), dry)
		return err
	}
	// The run contract's probe: an identity named as a run's, granted more than any action, asks for
	// something no contract admits.
	probeSA := runPrefix + "restart-pod.vap-probe"
	if _, err := cluster.Client.CoreV1().ServiceAccounts(releaseNS).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: probeSA}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("run-contract probe: %w", err)
	}
	if _, err := cluster.Client.RbacV1().RoleBindings("default").Create(context.Background(), &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vap-probe"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: probeSA, Namespace: releaseNS}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("run-contract probe: %w", err)
	}
	token, err := cluster.Token(context.Background(), releaseNS, probeSA)
	if err != nil {
		return err
	}
	prober, _, err := cluster.As(token)
	if err != nil {
		return err
	}
	probes["run-contract"] = func(ctx context.Context) error {
		_, err := prober.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "vap-probe"}}, dry)
		return err
	}
	return testenv.AwaitAdmissionPolicies(context.Background(), 30*time.Second, probes)
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
	client, _, err := cluster.As(token)
	return client, err
}

// Run is what the controller makes for one action run, through package runrbac: a ServiceAccount in
// the release namespace, owned by the run's Job, and a binding of the action's ClusterRole to it in the
// target namespace (or cluster-wide), labelled with the run so that they can be found and removed.
type Run struct {
	ID, ServiceAccount string
	Action             catalogue.Action
	Namespace          string // target namespace of a Namespaced action
	provisioned        *runrbac.Provisioned
	manager            *runrbac.Manager
}

func runLabels(id, action string) map[string]string {
	return map[string]string{"kubernaut.io/run": id, "kubernaut.io/action": action}
}

// provision creates a run's ServiceAccount and binding as the controller does, with its client: an
// owner Job named id (no Job controller runs here, so it never starts a pod), then runrbac.Provision.
func provision(ctx context.Context, controller kubernetes.Interface, a catalogue.Action, id, targetNS string) (*Run, error) {
	c, err := execution.Discover(ctx, cluster.Client, releaseNS)
	if err != nil {
		return nil, err
	}
	job, err := cluster.Client.BatchV1().Jobs(releaseNS).Create(ctx, minimalJob(id), metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("owner Job: %w", err)
	}
	m := runrbac.New(controller, c)
	p, err := m.Provision(ctx, a, runrbac.RunOf(job, jobGVK), targetNS)
	if err != nil {
		return nil, err
	}
	return &Run{ID: p.ID, ServiceAccount: p.ServiceAccountName(), Action: a, Namespace: targetNS, provisioned: p, manager: m}, nil
}

// bindingNamespace is where the run's permissions apply: the target namespace, or "" cluster-wide.
func (r *Run) bindingNamespace() string {
	if r.Action.Scope == catalogue.Cluster {
		return ""
	}
	return r.Namespace
}

// remove tears the run down as the controller does, then deletes its owner Job.
func (r *Run) remove(ctx context.Context, _ kubernetes.Interface) error {
	if err := r.manager.Teardown(ctx, r.provisioned); err != nil {
		return err
	}
	return cluster.Client.BatchV1().Jobs(releaseNS).Delete(ctx, r.provisioned.Run.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
}
