package tests

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/fake"

	"github.com/jordigilh/kubernaut-execution/internal/render"
)

// cluster answers Helm's lookup from a fake dynamic client, as an API server would during install.
type cluster struct{ client *fake.FakeDynamicClient }

var resources = map[string]schema.GroupVersionResource{
	"v1/Service":                        {Version: "v1", Resource: "services"},
	"discovery.k8s.io/v1/EndpointSlice": {Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
}

func (c cluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	return c.client.Resource(resources[apiVersion+"/"+kind]), true, nil
}

func u(obj map[string]any) runtime.Object { return &unstructured.Unstructured{Object: obj} }

// Without networkPolicy.apiServer.cidrs, `helm install` looks up the kubernetes Service and its
// EndpointSlice and allows exactly those addresses.
func TestAPIServerAddressesAreLookedUpAtInstall(t *testing.T) {
	svc := u(map[string]any{"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "kubernetes", "namespace": "default"},
		"spec":     map[string]any{"clusterIP": "10.96.0.1"}})
	slice := u(map[string]any{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
		"metadata":    map[string]any{"name": "kubernetes", "namespace": "default"},
		"addressType": "IPv4",
		"endpoints": []any{
			map[string]any{"addresses": []any{"172.18.0.3"}},
			map[string]any{"addresses": []any{"172.18.0.2"}},
		}})
	scheme := runtime.NewScheme()
	listKinds := map[schema.GroupVersionResource]string{resources["v1/Service"]: "ServiceList", resources["discovery.k8s.io/v1/EndpointSlice"]: "EndpointSliceList"}
	client := fake.NewSimpleDynamicClientWithCustomListKinds(scheme, listKinds, svc, slice)

	docs, err := render.Render(mustChart(t), render.Options{
		Release: render.DefaultRelease, Namespace: render.DefaultNamespace, KubeVersion: render.NewestKubernetes,
		Cluster: cluster{client},
	})
	require.NoError(t, err)
	requireAPIServerCIDRs(t, objects(t, docs), "10.96.0.1/32", "172.18.0.2/32", "172.18.0.3/32")
	conform(t, render.NewestKubernetes, docs)

	// The same cluster without the EndpointSlice: the render fails rather than allow only half.
	partial := fake.NewSimpleDynamicClientWithCustomListKinds(scheme, listKinds, svc)
	_, err = render.Render(mustChart(t), render.Options{
		Release: render.DefaultRelease, Namespace: render.DefaultNamespace, KubeVersion: render.NewestKubernetes,
		Cluster: cluster{partial},
	})
	require.ErrorContains(t, err, "Set networkPolicy.apiServer.cidrs")
}
