package runrbac

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Finalizer helpers for the run object (PipelineRun or Job). The run's bindings sit outside its
// namespace, where the garbage collector cannot follow, so the controller adds the contract's finalizer
// when it creates the run, and Finalize tears the run's RBAC down before letting the deletion proceed.
// They change the object in memory; the caller writes it with its own client (client-go Update or
// controller-runtime's client.Update), which is what keeps this package free of either.

// AddFinalizer adds the finalizer; it reports whether the object changed (and needs an update).
func (m *Manager) AddFinalizer(obj metav1.Object) bool {
	if slices.Contains(obj.GetFinalizers(), m.Contract.Labels.Finalizer) {
		return false
	}
	obj.SetFinalizers(append(obj.GetFinalizers(), m.Contract.Labels.Finalizer))
	return true
}

// Finalize runs TeardownRun for an object being deleted that still holds the finalizer, then removes
// the finalizer. It reports whether the object changed (and needs an update). On a teardown error the
// finalizer stays, so the deletion waits and the controller's next reconcile tries again.
func (m *Manager) Finalize(ctx context.Context, obj metav1.Object, r Run) (bool, error) {
	if obj.GetDeletionTimestamp() == nil || !slices.Contains(obj.GetFinalizers(), m.Contract.Labels.Finalizer) {
		return false, nil
	}
	if err := m.TeardownRun(ctx, r); err != nil {
		return false, err
	}
	obj.SetFinalizers(slices.DeleteFunc(slices.Clone(obj.GetFinalizers()), func(f string) bool { return f == m.Contract.Labels.Finalizer }))
	return true, nil
}
