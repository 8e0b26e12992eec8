//go:build e2e

package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The cleanup facts the design rests on, with the garbage collector running ("Garbage Collection" in
// the Kubernetes docs: cross-namespace owner references are treated as absent).
func TestGarbageCollectionFacts(t *testing.T) {
	require.NoError(t, tektonCRDsInstalled())
	runs := namespace(t, "gc-runs", nil)
	target := namespace(t, "gc-target", nil)
	pipelineRuns := cluster.Dynamic.Resource(pipelinev1.SchemeGroupVersion.WithResource("pipelineruns")).Namespace(runs)
	pr, err := pipelineRuns.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
		"metadata": map[string]any{"name": "run-1"},
		"spec":     map[string]any{"pipelineRef": map[string]any{"name": "remediate"}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	owner := metav1.OwnerReference{APIVersion: "tekton.dev/v1", Kind: "PipelineRun", Name: pr.GetName(), UID: pr.GetUID()}

	// A RoleBinding in another namespace owned by the PipelineRun is deleted at once, while the
	// PipelineRun still exists: why the design labels bindings and removes them itself.
	_, err = cluster.Client.RbacV1().RoleBindings(target).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "run-1", OwnerReferences: []metav1.OwnerReference{owner}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "run-1", Namespace: runs}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, 60*time.Second, func() error {
		_, err := cluster.Client.RbacV1().RoleBindings(target).Get(ctx, "run-1", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return errString("cross-namespace RoleBinding still present")
	}))
	_, err = pipelineRuns.Get(ctx, "run-1", metav1.GetOptions{})
	require.NoError(t, err, "the owner is still there: the dependent went prematurely")

	// A ServiceAccount in the PipelineRun's namespace, owned by it, is collected when it goes.
	_, err = cluster.Client.CoreV1().ServiceAccounts(runs).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "run-1", OwnerReferences: []metav1.OwnerReference{owner}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	// A control created after it, owned by a PipelineRun that does not exist: once the collector has
	// deleted the control, it has processed the ServiceAccount too, and the negative below means something.
	_, err = cluster.Client.CoreV1().ServiceAccounts(runs).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "control", OwnerReferences: []metav1.OwnerReference{{APIVersion: "tekton.dev/v1", Kind: "PipelineRun", Name: "gone", UID: "00000000-0000-0000-0000-000000000001"}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, 60*time.Second, func() error {
		_, err := cluster.Client.CoreV1().ServiceAccounts(runs).Get(ctx, "control", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return errString("the collector has not processed the control yet")
	}))
	_, err = cluster.Client.CoreV1().ServiceAccounts(runs).Get(ctx, "run-1", metav1.GetOptions{})
	require.NoError(t, err, "a same-namespace owner keeps its dependent")
	require.NoError(t, pipelineRuns.Delete(ctx, "run-1", metav1.DeleteOptions{}))
	require.NoError(t, waitFor(ctx, 60*time.Second, func() error {
		_, err := cluster.Client.CoreV1().ServiceAccounts(runs).Get(ctx, "run-1", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return errString("owned ServiceAccount still present")
	}))
}

type errString string

func (e errString) Error() string { return string(e) }
