package runrbac_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
)

// failing makes the first n RoleBinding creations fail with err (every one when n < 0) and counts
// the attempts.
func failing(client *fake.Clientset, n int, err error) *int {
	attempts := 0
	client.PrependReactor("create", "rolebindings", func(k8stesting.Action) (bool, runtime.Object, error) {
		attempts++
		if n < 0 || attempts <= n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &attempts
}

// A transient error is retried, each retry reported, until the request succeeds; the backoff's steps
// bound the attempts; cancellation stops the retries and names the last error; any other error is
// returned at once.
func TestProvisionRetriesTransientErrorsWithinTheBackoff(t *testing.T) {
	a := catalogue.Action{Name: "scale-deployment", Scope: catalogue.Namespaced}
	run := runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: "kx", Name: "r1", UID: "u1"}
	unavailable := apierrors.NewServiceUnavailable("injected")
	setup := func(n int, err error, backoff wait.Backoff) (*runrbac.Manager, *int, *[]error) {
		client := fake.NewClientset()
		attempts := failing(client, n, err)
		m := runrbac.New(client, contract())
		m.Backoff = backoff
		retried := &[]error{}
		m.Retried = func(err error) { *retried = append(*retried, err) }
		return m, attempts, retried
	}
	quick := wait.Backoff{Duration: time.Millisecond, Steps: 4}

	m, attempts, retried := setup(2, unavailable, quick)
	_, err := m.Provision(context.Background(), a, run, "shop")
	require.NoError(t, err)
	require.Equal(t, 3, *attempts)
	require.Len(t, *retried, 2)

	m, attempts, retried = setup(-1, unavailable, quick)
	_, err = m.Provision(context.Background(), a, run, "shop")
	require.ErrorIs(t, err, unavailable)
	require.ErrorContains(t, err, "giving up after retries")
	require.Equal(t, quick.Steps, *attempts, "one attempt per step")
	require.Len(t, *retried, quick.Steps)

	// Cancelled while waiting for the next attempt, an hour away.
	m, attempts, _ = setup(-1, unavailable, wait.Backoff{Duration: time.Hour, Steps: 4})
	ctx, cancel := context.WithCancel(context.Background())
	m.Retried = func(error) { cancel() }
	_, err = m.Provision(ctx, a, run, "shop")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "injected")
	require.Equal(t, 1, *attempts)

	forbidden := apierrors.NewForbidden(rbacv1.Resource("rolebindings"), "x", errors.New("injected"))
	m, attempts, retried = setup(-1, forbidden, quick)
	_, err = m.Provision(context.Background(), a, run, "shop")
	require.ErrorIs(t, err, forbidden)
	require.NotContains(t, err.Error(), "giving up")
	require.Equal(t, 1, *attempts)
	require.Empty(t, *retried)
}
