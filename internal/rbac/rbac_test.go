package rbac_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/rbac"
)

func grants(rules []rbacv1.PolicyRule, resource string) bool {
	for _, r := range rules {
		for _, res := range r.Resources {
			if res == resource {
				return true
			}
		}
	}
	return false
}

func TestClusterRoleBindingsOnlyWithClusterActions(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	require.True(t, grants(rbac.Compute(shipped).Controller.EphemeralClusterRules, "clusterrolebindings"))

	var namespacedOnly catalogue.Catalogue
	for _, a := range shipped.Actions {
		if a.Scope == catalogue.Namespaced {
			namespacedOnly.Actions = append(namespacedOnly.Actions, a)
		}
	}
	data := rbac.Compute(&namespacedOnly)
	require.False(t, grants(data.Controller.EphemeralClusterRules, "clusterrolebindings"))
	require.True(t, grants(data.Controller.EphemeralClusterRules, "rolebindings"))
}

// Workload creation is privilege escalation (a pod may run as any ServiceAccount of its namespace):
// no cluster-wide rule may create a workload.
func TestWorkloadsOnlyInTheReleaseNamespace(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	data := rbac.Compute(shipped)
	for _, res := range []string{"jobs", "taskruns", "pipelineruns", "pods", "deployments", "cronjobs"} {
		require.False(t, grants(slices.Concat(data.Controller.ClusterRules, data.Controller.EphemeralClusterRules), res), "cluster-wide %s", res)
	}
	require.True(t, grants(data.Controller.NamespaceRules, "jobs"))
	require.True(t, grants(data.Controller.NamespaceRules, "taskruns"))
}

// The controller holds none of the actions' permissions: only the verbs to bind them.
func TestControllerHoldsNoActionPermission(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	data := rbac.Compute(shipped)
	controller := slices.Concat(data.Controller.ClusterRules, data.Controller.NamespaceRules, data.Controller.EphemeralClusterRules, data.Controller.EphemeralNamespaceRules)
	for _, a := range data.Actions {
		for _, r := range a.Rules {
			for _, res := range r.Resources {
				require.False(t, grants(controller, res), "controller grants %s, which action %s uses", res, a.Name)
			}
		}
	}
}

func TestActionsSortedAndExact(t *testing.T) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	data := rbac.Compute(shipped)
	require.Len(t, data.Actions, len(shipped.Actions))
	for i := 1; i < len(data.Actions); i++ {
		require.Less(t, data.Actions[i-1].Name, data.Actions[i].Name)
	}
	for _, a := range data.Actions {
		src, ok := shipped.Action(a.Name)
		require.True(t, ok)
		require.Equal(t, src.PolicyRules(), a.Rules)
		require.Equal(t, src.Scope, a.Scope)
	}
}
