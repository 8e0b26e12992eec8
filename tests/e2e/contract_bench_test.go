//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// What the run contract adds to a request's latency on the real API server: the same admitted
// request of a patch-deployment run (a server-side dry-run of a resources patch), p50 and p99 per
// request, with the runs-contract policy bound and with its binding removed. Run with -benchtime 300x
// or more; the binding is restored afterwards.
func BenchmarkRunContractAdmission(b *testing.B) {
	installed(b)
	ctx := context.Background()
	const ns = "bench-contract"
	_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{execution.ManagedLabel: "true"}}}, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(b, err)
	}
	d := deployment("web", "registry.example.com/shop/web:1.0", 1)
	if _, err := cluster.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		require.NoError(b, err)
	}
	controller := controllerClient(b)
	a := testenv.Action(b, "patch-deployment")
	r, err := provision(ctx, controller, a, "bench-contract", ns)
	require.NoError(b, err)
	b.Cleanup(func() { _ = r.remove(context.Background(), controller) })
	awaitAuthorized(b, releaseNS, r.ServiceAccount, a.PolicyRules(), ns)
	token, err := cluster.Token(ctx, releaseNS, r.ServiceAccount)
	require.NoError(b, err)
	run, _, err := cluster.As(token)
	require.NoError(b, err)

	patch := func(fields map[string]any) error {
		data, err := json.Marshal(containerPatch(fields))
		if err != nil {
			return err
		}
		_, err = run.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, data, metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	admitted := map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "256Mi"}}}
	// A request only the contract refuses: it shows whether the policy is in force.
	refusedByContract := map[string]any{"args": []any{"--skip-auth"}}
	measure := func(b *testing.B, name string) {
		durations := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			require.NoError(b, patch(admitted))
			durations = append(durations, time.Since(start))
		}
		b.StopTimer()
		percentiles(b, name, durations)
	}

	b.Run("contract", func(b *testing.B) {
		require.NoError(b, testenv.WaitFor(ctx, 30*time.Second, func() error {
			if err := patch(refusedByContract); err == nil {
				return errContractNotEnforced
			}
			return nil
		}))
		measure(b, "request")
	})
	b.Run("no-contract", func(b *testing.B) {
		bindings := cluster.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings()
		name := release + "-runs-contract"
		saved, err := bindings.Get(ctx, name, metav1.GetOptions{})
		require.NoError(b, err)
		require.NoError(b, bindings.Delete(ctx, name, metav1.DeleteOptions{}))
		b.Cleanup(func() { restoreBinding(b, saved) })
		require.NoError(b, testenv.WaitFor(ctx, 30*time.Second, func() error { return patch(refusedByContract) }))
		measure(b, "request")
	})
}

var errContractNotEnforced = apierrors.NewBadRequest("the run contract is not enforced yet")

// restoreBinding puts the run contract's binding back and waits until the shared release's policies
// are enforced again.
func restoreBinding(b *testing.B, saved *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
	saved.ResourceVersion, saved.UID, saved.CreationTimestamp, saved.ManagedFields = "", "", metav1.Time{}, nil
	_, err := cluster.Client.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(context.Background(), saved, metav1.CreateOptions{})
	require.NoError(b, err)
	require.NoError(b, waitForAdmissionPolicies())
}
