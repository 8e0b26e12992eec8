package runrbac_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
)

func contract() *execution.Contract {
	return &execution.Contract{Namespace: "kx", RunServiceAccountPrefix: "kx-run-", ActionClusterRolePrefix: "kx-action-",
		Labels:           execution.Labels{Run: execution.DefaultRunLabel, Action: execution.DefaultActionLabel, RunAnnotation: execution.DefaultRunAnnotation, Finalizer: execution.DefaultFinalizer},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry-credentials"}}}
}

// The run's ServiceAccount is named for its action and target namespace and carries the contract's
// pull secrets; the
// binding's subject is that ServiceAccount. (The API server's side, that nothing else is admitted, is
// tests/e2e.)
func TestProvisionNamesTheActionAndCarriesPullSecrets(t *testing.T) {
	c := contract()
	client := fake.NewClientset()
	m := runrbac.New(client, c)
	a := catalogue.Action{Name: "scale-deployment", Scope: catalogue.Namespaced}
	run := runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: "kx", Name: "r1", UID: "u1"}
	p, err := m.Provision(context.Background(), a, run, "shop")
	require.NoError(t, err)
	require.Equal(t, c.ImagePullSecrets, p.ServiceAccount.ImagePullSecrets)
	require.Empty(t, p.ServiceAccount.Secrets)
	require.Equal(t, runrbac.ServiceAccountName(c, a, "shop", "Job", "r1"), p.ServiceAccountName())
	require.Equal(t, "kx-run-scale-deployment.shop."+p.ID, p.ServiceAccountName(), "the action and the target namespace are in the name")
	cordon := catalogue.Action{Name: "cordon-node", Scope: catalogue.Cluster}
	require.Equal(t, "kx-run-cordon-node."+p.ID, runrbac.ServiceAccountName(c, cordon, "", "Job", "r1"), "a cluster-wide action has no namespace")
	require.Equal(t, p.ServiceAccountName(), p.RoleBinding.Subjects[0].Name)
	action, ok := runrbac.ActionOf(c, p.ServiceAccountName())
	require.True(t, ok)
	require.Equal(t, a.Name, action)
	for _, name := range []string{"kx-run-", "kx-run-.x", "other-scale-deployment.x", "kx-run-scale-deployment"} {
		_, ok := runrbac.ActionOf(c, name)
		require.False(t, ok, name)
	}
	require.NoError(t, m.TeardownRun(context.Background(), run))
	sas, err := client.CoreV1().ServiceAccounts("kx").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, sas.Items, "TeardownRun finds the ServiceAccount by its run label")
}
