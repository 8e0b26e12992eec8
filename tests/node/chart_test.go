//go:build node

package node

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	authorizationv1 "k8s.io/api/authorization/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

const (
	release   = render.DefaultRelease
	releaseNS = render.DefaultNamespace
)

// releaseRef is an installed release of the chart: the names its objects get.
type releaseRef struct{ Name, NS string }

func (r releaseRef) controllerSA() string { return r.Name + "-controller" }

var defaultRelease = releaseRef{release, releaseNS}

// restricted labels a namespace to enforce the restricted Pod Security Standard, latest version.
var restricted = map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}

// The shared installation: the chart as release kubernaut-execution in kubernaut-system, with its
// default values, installed once with the Helm SDK against the node's API server.
var (
	installOnce sync.Once
	installErr  error
)

func installed(t testing.TB) {
	t.Helper()
	installOnce.Do(func() { installErr = install(context.Background()) })
	require.NoError(t, installErr, "shared installation")
}

func helmConfig(ns string) (*action.Configuration, error) {
	return testenv.HelmConfiguration(cluster.Kubeconfig, ns)
}

// helmInstall installs the chart with values (nil: the defaults) into a namespace that enforces the
// restricted Pod Security Standard.
func helmInstall(ctx context.Context, name, ns string, values map[string]any, nsLabels map[string]string) error {
	lbl := map[string]string{}
	for k, v := range restricted {
		lbl[k] = v
	}
	for k, v := range nsLabels {
		lbl[k] = v
	}
	if _, err := cluster.Client.CoreV1().Namespaces().Create(ctx, namespaceObject(ns, lbl), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	ch, err := render.LoadChart(filepath.Join(root, generate.ChartDir), nil)
	if err != nil {
		return err
	}
	cfg, err := helmConfig(ns)
	if err != nil {
		return err
	}
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = name, ns
	if _, err := install.Run(ch, values); err != nil {
		return fmt.Errorf("helm install %s: %w", name, err)
	}
	return waitForQuotasCounted(ctx, ns)
}

// waitForQuotasCounted waits until the ResourceQuota controller has counted every resource the
// namespace's quotas (the run budget) limit: until then the API server refuses those creates with
// "status unknown for quota".
func waitForQuotasCounted(ctx context.Context, ns string) error {
	return waitFor(ctx, 90*time.Second, func() error {
		quotas, err := cluster.Client.CoreV1().ResourceQuotas(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, q := range quotas.Items {
			for r := range q.Spec.Hard {
				if _, ok := q.Status.Used[r]; !ok {
					return fmt.Errorf("quota %s/%s has not counted %s yet", ns, q.Name, r)
				}
			}
		}
		return nil
	})
}

func install(ctx context.Context) error {
	// No networkPolicy.apiServer.cidrs: the chart's lookup reads the kubernetes Service and its
	// EndpointSlice from the live API server.
	if err := helmInstall(ctx, release, releaseNS, nil, nil); err != nil {
		return err
	}
	if err := waitForAdmissionPolicy(ctx, defaultRelease); err != nil {
		return err
	}
	return controllerMayCreateTaskRuns(ctx, defaultRelease)
}

// waitForAdmissionPolicy waits until the API server enforces the chart's ValidatingAdmissionPolicies
// on bindings and on workloads (it loads policies asynchronously): a dry-run binding, and a dry-run
// TaskRun as the namespace's default ServiceAccount, are refused by them.
func waitForAdmissionPolicy(ctx context.Context, rel releaseRef) error {
	releaseNS, release := rel.NS, rel.Name
	controller, controllerDyn, err := controllerClientsFor(ctx, rel)
	if err != nil {
		return err
	}
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "vap-probe", Namespace: "default"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: release + "-action-verify-deployment"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "not-a-run", Namespace: releaseNS}}}
	taskRun := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": "vap-probe", "namespace": releaseNS},
		"spec":     map[string]any{"serviceAccountName": "default", "taskRef": map[string]any{"name": "kubernaut-verify-deployment"}}}}
	return testenv.AwaitAdmissionPolicies(ctx, 60*time.Second, map[string]func(context.Context) error{
		"bindings": func(ctx context.Context) error {
			_, err := controller.RbacV1().RoleBindings("default").Create(ctx, binding, dry)
			return err
		},
		"workloads": func(ctx context.Context) error {
			_, err := controllerDyn.Resource(tektonGVR("taskruns")).Namespace(releaseNS).Create(ctx, taskRun, dry)
			return err
		},
	})
}

// controllerMayCreateTaskRuns checks that the chart lets the controller's ServiceAccount create
// TaskRuns in the release namespace (and nowhere else is its business: the e2e layer checks that).
func controllerMayCreateTaskRuns(ctx context.Context, rel releaseRef) error {
	controller, _, err := controllerClientsFor(ctx, rel)
	if err != nil {
		return err
	}
	review, err := controller.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: rel.NS, Verb: "create", Group: "tekton.dev", Resource: "taskruns"}}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if !review.Status.Allowed {
		return fmt.Errorf("the chart does not let the controller create TaskRuns in %s", rel.NS)
	}
	return nil
}

// The Helm SDK install found the API server by lookup: the action pods' NetworkPolicy allows the
// kubernetes Service IP and the API server's endpoint IP, read from the live cluster, and the release
// namespace enforces restricted:latest.
func TestInstallFindsTheAPIServerByLookup(t *testing.T) {
	installed(t)
	ctx := context.Background()
	svc, err := cluster.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	require.NoError(t, err)
	want := []string{svc.Spec.ClusterIP + "/32", nodeIP + "/32"}
	require.Equal(t, apiServiceIP, svc.Spec.ClusterIP, "kubernetes Service IP")
	policies, err := cluster.Client.NetworkingV1().NetworkPolicies(releaseNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.NotEmpty(t, policies.Items, "no NetworkPolicy installed")
	for _, np := range policies.Items {
		got := ipBlocks(np)
		slices.Sort(got)
		wantSorted := slices.Clone(want)
		slices.Sort(wantSorted)
		assert.Equal(t, wantSorted, got, "NetworkPolicy %s's API server blocks, want the lookup's answer", np.Name)
	}
	ns, err := cluster.Client.CoreV1().Namespaces().Get(ctx, releaseNS, metav1.GetOptions{})
	require.NoError(t, err)
	for k, v := range restricted {
		assert.Equal(t, v, ns.Labels[k], "release namespace label %s", k)
	}
}

func ipBlocks(np networkingv1.NetworkPolicy) []string {
	var out []string
	for _, r := range np.Spec.Egress {
		for _, p := range r.To {
			if p.IPBlock != nil {
				out = append(out, p.IPBlock.CIDR)
			}
		}
	}
	return out
}

// controllerClientsFor are clients acting as a release's controller ServiceAccount.
func controllerClientsFor(ctx context.Context, rel releaseRef) (kubernetesClient, dynamicClient, error) {
	token, err := cluster.Token(ctx, rel.NS, rel.controllerSA())
	if err != nil {
		return nil, nil, err
	}
	return cluster.As(token)
}

// targetNamespace creates a namespace enforcing restricted:latest for one test, opted in as a target
// (kubernaut.ai/managed=true), with its default ServiceAccount in place.
func targetNamespace(t testing.TB, name string) string {
	t.Helper()
	return createTargetNamespace(t, name, map[string]string{execution.ManagedLabel: "true"})
}

// unmanagedNamespace is a target namespace nobody opted in.
func unmanagedNamespace(t testing.TB, name string) string {
	t.Helper()
	return createTargetNamespace(t, name, nil)
}

func createTargetNamespace(t testing.TB, name string, extra map[string]string) string {
	t.Helper()
	ctx := context.Background()
	labels := maps.Clone(restricted)
	maps.Copy(labels, extra)
	_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, namespaceObject(name, labels), metav1.CreateOptions{})
	require.NoError(t, err, "namespace %s", name)
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		_, err := cluster.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	}))
	return name
}
