//go:build e2e

package e2e

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/jordigilh/kubernaut-execution/catalogue"
)

// The catalogue's cluster-scoped list, generated from the discovery documents k8s.io/kubernetes ships,
// agrees with the real API server's discovery: every built-in (k8s.io or core) cluster-scoped resource
// the server serves is on it, and nothing on it is served as namespaced.
func TestClusterScopedResourcesMatchDiscovery(t *testing.T) {
	lists, err := cluster.Client.Discovery().ServerPreferredResources()
	require.NoError(t, err)
	listed := catalogue.ClusterScopedResources()
	served := 0
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		require.NoError(t, err)
		if gv.Group != "" && !strings.HasSuffix(gv.Group, "k8s.io") {
			continue // CRDs (Tekton's) are not the catalogue's built-ins
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue
			}
			key := r.Name
			if gv.Group != "" {
				key += "." + gv.Group
			}
			if r.Namespaced {
				require.NotContains(t, listed, key, "the server serves %s as namespaced", key)
				continue
			}
			served++
			require.True(t, slices.Contains(listed, key), "the server serves %s cluster-scoped; the catalogue's list misses it", key)
		}
	}
	require.Greater(t, served, 20, "discovery returned too few cluster-scoped resources to compare")
}
