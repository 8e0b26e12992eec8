package runrbac_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
)

// Sweep removes, with its workers in parallel, what runs that are gone left behind, keeps what live
// runs and runs whose lookup failed hold (reporting the failure), and starts nothing once cancelled.
func TestSweepRemovesWhatGoneRunsLeft(t *testing.T) {
	client := fake.NewClientset()
	m := runrbac.New(client, contract())
	a := catalogue.Action{Name: "scale-deployment", Scope: catalogue.Namespaced}
	runs := map[string]runrbac.Run{}
	for _, name := range []string{"gone-1", "gone-2", "gone-3", "alive", "unknown"} {
		runs[name] = runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: "kx", Name: name, UID: types.UID("u-" + name)}
		_, err := m.Provision(context.Background(), a, runs[name], "shop")
		require.NoError(t, err)
	}
	lookupFailed := errors.New("injected lookup failure")
	var mu sync.Mutex
	var asked []string
	exists := func(_ context.Context, r runrbac.Run) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, r.Name)
		switch r.Name {
		case "alive":
			return true, nil
		case "unknown":
			return false, lookupFailed
		}
		return false, nil
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	result, err := m.Sweep(cancelled, runrbac.SweepOptions{Exists: exists, Workers: 2})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, result.Removed)
	require.Empty(t, asked, "no lookup starts once cancelled")

	result, err = m.Sweep(context.Background(), runrbac.SweepOptions{Exists: exists, Workers: 2})
	require.ErrorIs(t, err, lookupFailed)
	require.ElementsMatch(t, []string{"gone-1", "gone-2", "gone-3", "alive", "unknown"}, asked, "each run asked once")
	var want []string
	for _, name := range []string{"gone-1", "gone-2", "gone-3"} {
		sa := m.ServiceAccountName(a, "shop", runs[name])
		want = append(want, "RoleBinding/shop/"+sa, "ServiceAccount/kx/"+sa)
	}
	require.ElementsMatch(t, want, result.Removed)
	require.IsIncreasing(t, result.Removed)
	for _, name := range []string{"alive", "unknown"} {
		sa := m.ServiceAccountName(a, "shop", runs[name])
		_, err := client.CoreV1().ServiceAccounts("kx").Get(context.Background(), sa, metav1.GetOptions{})
		require.NoError(t, err, "%s keeps its ServiceAccount", name)
		_, err = client.RbacV1().RoleBindings("shop").Get(context.Background(), sa, metav1.GetOptions{})
		require.NoError(t, err, "%s keeps its RoleBinding", name)
	}
}
