package scopes_test

import (
	"cmp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/scopes"
)

// Documents in the shape k8s.io/kubernetes ships them (api/discovery/): the core group's resource list
// and the aggregated discovery of the named groups, with resources served in several versions.
const (
	core = `{"kind": "APIResourceList", "groupVersion": "v1", "resources": [
		{"name": "nodes", "namespaced": false, "kind": "Node", "verbs": ["get"]},
		{"name": "nodes/status", "namespaced": false, "kind": "Node", "verbs": ["get"]},
		{"name": "pods", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
		{"name": "pods/exec", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create"]}]}`
	aggregated = `{"apiVersion": "apidiscovery.k8s.io/v2", "kind": "APIGroupDiscoveryList", "items": [
		{"metadata": {"name": "rbac.authorization.k8s.io"}, "versions": [{"version": "v1", "resources": [
			{"resource": "clusterroles", "scope": "Cluster", "responseKind": {"kind": "ClusterRole"}},
			{"resource": "roles", "scope": "Namespaced", "responseKind": {"kind": "Role"}}]}]},
		{"metadata": {"name": "admissionregistration.k8s.io"}, "versions": [
			{"version": "v1", "resources": [{"resource": "validatingadmissionpolicies", "scope": "Cluster",
				"subresources": [{"subresource": "status", "verbs": ["get"]}]}]},
			{"version": "v1beta1", "resources": [{"resource": "validatingadmissionpolicies", "scope": "Cluster"}]}]}]}`
)

func TestClusterScoped(t *testing.T) {
	for _, tc := range []struct {
		name             string
		aggregated, core string
		want             []string
		err              string
	}{
		{
			name: "core resources bare, others with their group; no subresource, no namespaced resource",
			want: []string{"clusterroles.rbac.authorization.k8s.io", "nodes", "validatingadmissionpolicies.admissionregistration.k8s.io"},
		},
		{
			name:       "versions that disagree on a scope",
			aggregated: strings.Replace(aggregated, `"v1beta1", "resources": [{"resource": "validatingadmissionpolicies", "scope": "Cluster"`, `"v1beta1", "resources": [{"resource": "validatingadmissionpolicies", "scope": "Namespaced"`, 1),
			err:        "validatingadmissionpolicies.admissionregistration.k8s.io is cluster-scoped in one version and namespaced in another",
		},
		{
			name:       "a scope that is neither",
			aggregated: strings.Replace(aggregated, `"scope": "Namespaced"`, `"scope": ""`, 1),
			err:        `rbac.authorization.k8s.io/v1 roles: scope "", want Cluster or Namespaced`,
		},
		{
			name:       "another document than aggregated discovery",
			aggregated: `{"apiVersion": "apidiscovery.k8s.io/v2beta1", "kind": "APIGroupDiscoveryList", "items": []}`,
			err:        "aggregated discovery: a apidiscovery.k8s.io/v2beta1 APIGroupDiscoveryList, want an APIGroupDiscoveryList apidiscovery.k8s.io/v2",
		},
		{name: "aggregated discovery that does not parse", aggregated: `{`, err: "aggregated discovery: unexpected end of JSON input"},
		{name: "core discovery of another group", core: `{"kind": "APIResourceList", "groupVersion": "apps/v1"}`, err: `core group discovery: group version "apps/v1", want v1`},
		{name: "core discovery that does not parse", core: `[]`, err: "core group discovery: json: cannot unmarshal array"},
		{
			name:       "nothing cluster-scoped",
			aggregated: `{"apiVersion": "apidiscovery.k8s.io/v2", "kind": "APIGroupDiscoveryList", "items": []}`,
			core:       `{"kind": "APIResourceList", "groupVersion": "v1", "resources": [{"name": "pods", "namespaced": true}]}`,
			err:        "discovery: no cluster-scoped resources",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scopes.ClusterScoped([]byte(cmp.Or(tc.aggregated, aggregated)), []byte(cmp.Or(tc.core, core)))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
