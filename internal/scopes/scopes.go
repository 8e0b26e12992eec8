// Package scopes tells the built-in Kubernetes resources that are cluster-scoped from the namespaced
// ones, as the discovery documents a Kubernetes release ships say: k8s.io/kubernetes's api/discovery/,
// which hack/update-openapi-spec.sh writes from an API server serving every API, alpha ones included.
// Discovery states each resource's scope; nothing is inferred from URL paths.
package scopes

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The discovery documents in the k8s.io/kubernetes module the scopes come from.
const (
	// Aggregated is /apis as aggregated discovery: every named group's resources with their scope.
	Aggregated = "api/discovery/aggregated_v2.json"
	// Core is /api/v1, the legacy core group, which the aggregated document (read from /apis) leaves out.
	Core = "api/discovery/api__v1.json"
)

// ClusterScoped lists the cluster-scoped resources that aggregated (an APIGroupDiscoveryList) and core
// (the core group's APIResourceList) describe, as <plural> for the core group and <plural>.<group> for
// the others, sorted. Subresources are left out. A resource whose versions disagree on its scope, or
// whose scope is neither Cluster nor Namespaced, is an error: the list must not guess.
func ClusterScoped(aggregated, core []byte) ([]string, error) {
	var groups apidiscoveryv2.APIGroupDiscoveryList
	if err := json.Unmarshal(aggregated, &groups); err != nil {
		return nil, fmt.Errorf("aggregated discovery: %w", err)
	}
	if groups.Kind != "APIGroupDiscoveryList" || groups.APIVersion != apidiscoveryv2.SchemeGroupVersion.String() {
		return nil, fmt.Errorf("aggregated discovery: a %s %s, want an APIGroupDiscoveryList %s", groups.APIVersion, groups.Kind, apidiscoveryv2.SchemeGroupVersion)
	}
	var coreList metav1.APIResourceList
	if err := json.Unmarshal(core, &coreList); err != nil {
		return nil, fmt.Errorf("core group discovery: %w", err)
	}
	if coreList.GroupVersion != "v1" {
		return nil, fmt.Errorf("core group discovery: group version %q, want v1", coreList.GroupVersion)
	}

	cluster := map[string]bool{} // resource key: cluster-scoped
	record := func(key string, clusterScoped bool) error {
		if seen, ok := cluster[key]; ok && seen != clusterScoped {
			return fmt.Errorf("discovery: %s is cluster-scoped in one version and namespaced in another", key)
		}
		cluster[key] = clusterScoped
		return nil
	}
	for _, r := range coreList.APIResources {
		if strings.Contains(r.Name, "/") {
			continue // a subresource
		}
		if err := record(r.Name, !r.Namespaced); err != nil {
			return nil, err
		}
	}
	for _, g := range groups.Items {
		for _, v := range g.Versions {
			for _, r := range v.Resources {
				key := r.Resource
				if g.Name != "" {
					key += "." + g.Name
				}
				var clusterScoped bool
				switch r.Scope {
				case apidiscoveryv2.ScopeCluster:
					clusterScoped = true
				case apidiscoveryv2.ScopeNamespace:
				default:
					return nil, fmt.Errorf("discovery: %s/%s %s: scope %q, want %s or %s", g.Name, v.Version, r.Resource, r.Scope, apidiscoveryv2.ScopeCluster, apidiscoveryv2.ScopeNamespace)
				}
				if err := record(key, clusterScoped); err != nil {
					return nil, err
				}
			}
		}
	}
	var out []string
	for key, clusterScoped := range cluster {
		if clusterScoped {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil, errors.New("discovery: no cluster-scoped resources")
	}
	return out, nil
}
