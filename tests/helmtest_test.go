package tests

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
)

// renderWithTests renders as `helm template` does without --skip-tests: the release and its helm test
// hooks.
func renderWithTests(t *testing.T, values map[string]any) []manifest.Document {
	t.Helper()
	docs, err := render.Render(mustChart(t), render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace,
		KubeVersion: render.NewestKubernetes, Values: values, Tests: true})
	require.NoError(t, err)
	return docs
}

// The helm test hooks are held to the bundle's own rules: the schema, Pod Security restricted, pinned
// images, resources, least privilege, a NetworkPolicy selecting their pods. They are hooks only (an
// install creates none of them), and the NetworkPolicy check and the test pods' policy go with the
// NetworkPolicies.
func TestHelmTestHooks(t *testing.T) {
	values := readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml"))
	docs := renderWithTests(t, values)
	hooks := map[string]bool{}
	for _, d := range docs {
		if filepath.Dir(d.Source) == filepath.Join(mustChart(t).Name(), "templates", "tests") {
			require.Equal(t, "test", get(parse(t, d.YAML), "metadata", "annotations", "helm.sh/hook"), d.Kind()+"/"+d.Name())
			hooks[d.Kind()+"/"+d.Name()] = true
		}
	}
	require.Equal(t, map[string]bool{
		"Pod/kubernaut-execution-test-access": true, "Pod/kubernaut-execution-test-networkpolicies": true,
		"ServiceAccount/kubernaut-execution-test-networkpolicies": true, "Role/kubernaut-execution-test-networkpolicies": true,
		"RoleBinding/kubernaut-execution-test-networkpolicies": true, "NetworkPolicy/kubernaut-execution-test-access": true,
	}, hooks)
	require.Empty(t, violations(t, checker(t, render.NewestKubernetes, false), withActionJob(t, docs)))
	require.Len(t, defaultRender(t), len(docs)-len(hooks), "an install renders no hook")

	values["networkPolicy"].(map[string]any)["enabled"] = false
	for _, d := range renderWithTests(t, values) {
		require.NotContains(t, d.Name(), "test-networkpolicies", "no NetworkPolicy check without NetworkPolicies")
		require.NotEqual(t, "NetworkPolicy", d.Kind(), "no NetworkPolicy for the test pods without NetworkPolicies")
	}
}
