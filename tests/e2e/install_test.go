//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/internal/check"
	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/modules"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

const (
	release   = render.DefaultRelease
	releaseNS = render.DefaultNamespace
)

var (
	chartDir   = filepath.Join(root, generate.ChartDir)
	tektonCRDs = []string{"config/300-crds/300-task.yaml", "config/300-crds/300-taskrun.yaml", "config/300-crds/300-pipelinerun.yaml"}
)

// apply server-side applies documents, as `kubectl apply --server-side` does (with dryRun, as
// `--dry-run=server`).
func (c *Cluster) apply(ctx context.Context, docs []manifest.Document, dryRun ...string) error {
	_, err := c.applyAs(ctx, "e2e", docs, dryRun...)
	return err
}

// applyAs server-side applies docs as field manager manager and returns what the API server made of
// each (with dryRun "All", what it would make, changing nothing).
func (c *Cluster) applyAs(ctx context.Context, manager string, docs []manifest.Document, dryRun ...string) ([]*unstructured.Unstructured, error) {
	return testenv.ServerSideApply(ctx, c.Dynamic, c.Mapper, manager, docs, dryRun...)
}

// tektonCRDsInstalled installs Tekton's Task, TaskRun and PipelineRun CRDs from the pinned module into the
// shared cluster once, remembering the error (a shared fixture returns errors, never calls require).
var tektonCRDsInstalled = sync.OnceValue(func() error { return installTektonCRDs(cluster) })

func installTektonCRDs(c *Cluster) error {
	ctx := context.Background()
	version, err := testenv.RequiredVersion(filepath.Join(root, "go.mod"), "github.com/tektoncd/pipeline")
	if err != nil {
		return err
	}
	for _, path := range tektonCRDs {
		data, err := modules.File("github.com/tektoncd/pipeline@"+version, path)
		if err != nil {
			return err
		}
		docs, err := manifest.Read(path, bytes.NewReader(data))
		if err != nil {
			return err
		}
		if err := c.apply(ctx, docs); err != nil {
			return fmt.Errorf("apply %s: %w", path, err)
		}
		crd := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		if err := waitFor(ctx, 30*time.Second, func() error {
			obj, err := c.Dynamic.Resource(crd).Get(ctx, docs[0].Name(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			for _, c := range conds {
				if m := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return fmt.Errorf("%s not established", docs[0].Name())
		}); err != nil {
			return err
		}
	}
	c.ResetMapper()
	return nil
}

func helmConfig(t testing.TB, ns string) *action.Configuration {
	t.Helper()
	cfg, err := helmConfiguration(ns)
	require.NoError(t, err)
	return cfg
}

func helmConfiguration(ns string) (*action.Configuration, error) {
	return testenv.HelmConfiguration(cluster.Kubeconfig, ns)
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := render.LoadChart(chartDir, nil)
	require.NoError(t, err)
	return ch
}

// values are the chart's values for this cluster: the loopback API server (service IP and endpoint),
// and no CRDs: the shared release installed them (one release per cluster does, crds.install), and
// another release's install of them would fail on Helm's ownership of the objects.
func values(extra map[string]any) map[string]any {
	v := map[string]any{"networkPolicy": map[string]any{"apiServer": map[string]any{"cidrs": []any{"10.0.0.1/32", "127.0.0.1/32"}}},
		"crds": map[string]any{"install": false, "keep": true}}
	for k, val := range extra {
		v[k] = val
	}
	return v
}

func newInstall(t testing.TB, name, ns string) *action.Install {
	require.NoError(t, restrictedNamespace(cluster.Client, ns))
	install := action.NewInstall(helmConfig(t, ns))
	install.ReleaseName, install.Namespace = name, ns
	return install
}

// restrictedNamespace creates a release namespace as an operator does before installing: enforcing the
// restricted Pod Security Standard, which the chart requires of it.
func restrictedNamespace(client kubernetes.Interface, ns string) error {
	obj := nsObject(ns)
	obj.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	_, err := client.CoreV1().Namespaces().Create(context.Background(), obj, metaCreate)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// clusterScoped lists the release's cluster-scoped objects left in the cluster.
func clusterScoped(t *testing.T, name string) []string {
	t.Helper()
	ctx := context.Background()
	selector := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + name}
	var left []string
	for _, gvr := range []schema.GroupVersionResource{
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterrolebindings"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"},
		{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"},
	} {
		list, err := cluster.Dynamic.Resource(gvr).List(ctx, selector)
		require.NoError(t, err)
		for _, o := range list.Items {
			left = append(left, gvr.Resource+"/"+o.GetName())
		}
	}
	return left
}

// The release namespace enforces restricted Pod Security: an install into one that does not is refused
// with what to do, and the same install passes once the namespace is labelled.
func TestReleaseNamespaceIsRestricted(t *testing.T) {
	require.NoError(t, tektonCRDsInstalled())
	ctx := context.Background()
	plain := createNamespace(t, "helm-plain", nil)
	install := func() error {
		i := action.NewInstall(helmConfig(t, plain))
		i.ReleaseName, i.Namespace = "plain", plain
		_, err := i.Run(loadChart(t), values(nil))
		return err
	}
	require.ErrorContains(t, install(), "namespace helm-plain must enforce the restricted Pod Security Standard")
	_, err := cluster.Client.CoreV1().Namespaces().Patch(ctx, plain, types.MergePatchType,
		[]byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	require.NoError(t, install(), "the control: labelled, it installs")
	t.Cleanup(func() { _, _ = action.NewUninstall(helmConfig(t, plain)).Run("plain") })
}

func TestHelmInstallUpgradeUninstall(t *testing.T) {
	require.NoError(t, tektonCRDsInstalled())
	ctx := context.Background()
	ns := "helm-lifecycle"
	name := "lifecycle"
	rel, err := newInstall(t, name, ns).Run(loadChart(t), values(nil))
	require.NoError(t, err)
	require.Equal(t, "deployed", rel.Info.Status.String())

	tasks, err := cluster.Dynamic.Resource(pipelinev1.SchemeGroupVersion.WithResource("tasks")).Namespace(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, tasks.Items, len(testenv.Catalogue(t).Actions), "every Task is accepted by the Task CRD's schema")
	require.NotEmpty(t, clusterScoped(t, name))

	upgrade := action.NewUpgrade(helmConfig(t, ns))
	upgrade.Namespace = ns
	rel, err = upgrade.Run(name, loadChart(t), values(map[string]any{"controller": map[string]any{"replicas": 2}}))
	require.NoError(t, err)
	require.Equal(t, 2, rel.Version)
	d, err := cluster.Client.AppsV1().Deployments(ns).Get(ctx, name+"-kubernaut-execution-controller", metav1.GetOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 2, *d.Spec.Replicas)

	_, err = action.NewUninstall(helmConfig(t, ns)).Run(name)
	require.NoError(t, err)
	require.Empty(t, clusterScoped(t, name), "uninstall leaves nothing cluster-scoped behind")
	_ = cluster.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
}

// argoCDManager is the field manager Argo CD's server-side apply uses (its controller's default).
const argoCDManager = "argocd-controller"

// Each overlay applies with server-side apply, one after the other as an operator switching overlays
// would, on a control plane of its own: the overlays use the names of the shared Helm release. Applied
// as Argo CD applies it (ServerSideApply=true), each then applies again as a server-side dry run to
// exactly the live objects: Argo CD's server-side diff finds nothing, so the Application stays Synced
// instead of showing OutOfSync forever over fields the API server defaults.
func TestOverlaysApplyServerSide(t *testing.T) {
	ctx := context.Background()
	own, err := Start(ctx)
	if own != nil {
		defer func() { assert.NoError(t, own.Stop()) }()
	}
	require.NoError(t, err)
	require.NoError(t, installTektonCRDs(own))
	_, err = own.Client.CoreV1().Namespaces().Create(ctx, nsObject(releaseNS), metaCreate)
	require.NoError(t, err)
	for _, o := range []string{"development", "production", "openshift"} {
		t.Run(o, func(t *testing.T) {
			out, err := testenv.KustomizeBuild(filepath.Join(root, "kustomize", "overlays", o))
			require.NoError(t, err)
			docs, err := manifest.Read(o, bytes.NewReader(out))
			require.NoError(t, err)
			_, err = own.applyAs(ctx, argoCDManager, docs)
			require.NoError(t, err)
			// The API server writes a new CustomResourceDefinition's status (Established) a moment
			// later, with its own managed fields: compare once that has settled, as Argo CD's next sync
			// would.
			require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
				crds, err := own.Dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}).List(ctx, metav1.ListOptions{})
				if err != nil {
					return err
				}
				for _, c := range crds.Items {
					conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
					established := false
					for _, cond := range conds {
						m, _ := cond.(map[string]any)
						established = established || (m["type"] == "Established" && m["status"] == "True")
					}
					if !established {
						return fmt.Errorf("CustomResourceDefinition %s not established yet", c.GetName())
					}
				}
				return nil
			}))
			live, err := own.applyAs(ctx, argoCDManager, docs)
			require.NoError(t, err)
			again, err := own.applyAs(ctx, argoCDManager, docs, metav1.DryRunAll)
			require.NoError(t, err)
			for i := range live {
				require.Equal(t, live[i].Object, again[i].Object, "%s %s drifts: applying it again would change it", docs[i].Kind(), docs[i].Name())
			}
			// Control: a render that differs from the live objects does show as a change.
			changed, err := manifest.Read(o, bytes.NewReader(bytes.Replace(out, []byte("automountServiceAccountToken: true"), []byte("automountServiceAccountToken: false"), 1)))
			require.NoError(t, err)
			diff, err := own.applyAs(ctx, argoCDManager, changed, metav1.DryRunAll)
			require.NoError(t, err)
			drifted := 0
			for i := range live {
				if !reflect.DeepEqual(live[i].Object, diff[i].Object) {
					drifted++
				}
			}
			require.Equal(t, 1, drifted, "the changed object, and only it, would change")
			d, err := own.Client.AppsV1().Deployments(releaseNS).Get(ctx, release+"-controller", metav1.GetOptions{})
			require.NoError(t, err)
			wantReplicas := map[string]int32{"development": 1, "production": 2, "openshift": 1}[o]
			require.Equal(t, wantReplicas, *d.Spec.Replicas, "the overlay's controller Deployment is what the API server holds")
		})
	}
}

// podsOf turns every shipped pod spec into a Pod: the controller's, an action Job's (built from the
// execution contract by package jobs) and each
// Task's (its steps over the stepTemplate, as Tekton builds the pod).
func podsOf(t *testing.T, docs []manifest.Document) map[string]*corev1.Pod {
	t.Helper()
	pods := map[string]*corev1.Pod{}
	for _, d := range docs {
		var spec corev1.PodSpec
		switch d.Kind() {
		case "Deployment", "Task":
			// The pod each makes, as the checker reads it (a Task's steps merged by Tekton's function).
			_, s, err := check.PodSpec(d)
			require.NoError(t, err)
			spec = *s
			spec.RestartPolicy = corev1.RestartPolicyNever
		case "ConfigMap":
			// The execution contract: the pod of an action Job the controller builds from it.
			var cm corev1.ConfigMap
			require.NoError(t, yaml.Unmarshal(d.YAML, &cm))
			if cm.Labels[execution.ComponentLabel] != execution.ComponentValue {
				continue
			}
			c, err := execution.Parse(cm.Data)
			require.NoError(t, err)
			a, _ := testenv.Catalogue(t).Action("drain-node")
			job, err := jobs.Build(c, a, jobs.Input{Name: "psa", ServiceAccount: c.RunServiceAccountPrefix + "psa",
				Parameters: map[string]string{"node": "worker-1", "timeoutSeconds": "60"}, Target: "{}"})
			require.NoError(t, err)
			spec = job.Spec.Template.Spec
		default:
			continue
		}
		spec.ServiceAccountName = "" // the namespace's default ServiceAccount
		pods[d.Kind()+"/"+d.Name()] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "psa-"}, Spec: spec}
	}
	require.Len(t, pods, 2+len(testenv.Catalogue(t).Actions), "the controller, the action Job and one Task per action")
	return pods
}

// In a namespace enforcing the restricted Pod Security Standard, a Pod from every shipped pod spec is
// admitted, and the same Pod with one restricted setting removed is not.
func TestPodSecurityAdmission(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "psa-restricted", map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"})
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		_, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	}))
	docs, err := render.Render(loadChart(t), render.Options{Release: release, Namespace: ns, KubeVersion: render.NewestKubernetes, Values: values(nil)})
	require.NoError(t, err)
	for name, pod := range podsOf(t, docs) {
		_, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		require.NoError(t, err, "%s is refused by restricted admission", name)

		weakened := pod.DeepCopy()
		weakened.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil
		_, err = cluster.Client.CoreV1().Pods(ns).Create(ctx, weakened, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		require.Error(t, err, "%s without allowPrivilegeEscalation: false is admitted", name)
		require.Contains(t, err.Error(), "violates PodSecurity \"restricted:latest\"")
	}
}
