package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/render"
)

// contractDir writes the execution contract the chart renders with default values as the pod mounts it:
// one file per key.
func contractDir(t *testing.T, change func(data map[string]string)) string {
	t.Helper()
	root, err := repositoryRoot()
	require.NoError(t, err)
	ch, err := render.LoadChart(filepath.Join(root, generate.ChartDir), nil)
	require.NoError(t, err)
	docs, err := render.Render(ch, render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace, KubeVersion: render.NewestKubernetes,
		Values: map[string]any{"networkPolicy": map[string]any{"apiServer": map[string]any{"cidrs": []any{"10.96.0.1/32"}}}}})
	require.NoError(t, err)
	dir := t.TempDir()
	for _, d := range docs {
		if d.Kind() != "ConfigMap" || !strings.HasSuffix(d.Name(), "-execution-contract") {
			continue
		}
		var cm struct{ Data map[string]string }
		require.NoError(t, yaml.Unmarshal(d.YAML, &cm))
		change(cm.Data)
		for key, value := range cm.Data {
			require.NoError(t, os.WriteFile(filepath.Join(dir, key), []byte(value), 0o644))
		}
		return dir
	}
	t.Fatal("no execution contract in the render")
	return ""
}

// test-release judges only a release generated from its own catalogue; the API server's answers are
// tested on the node layer (TestHelmTest), including a grant that makes it fail.
func TestTestReleaseRefusesAnotherCatalogue(t *testing.T) {
	run1 := func(dir string) (int, string) {
		var stdout, stderr bytes.Buffer
		status := run([]string{"test-release", "--contract", dir, "--kubeconfig", filepath.Join(t.TempDir(), "none")}, nil, &stdout, &stderr)
		return status, stdout.String() + stderr.String()
	}
	status, out := run1(contractDir(t, func(map[string]string) {}))
	require.Equal(t, exitError, status)
	require.NotContains(t, out, "another catalogue")
	require.Contains(t, out, "none", "it got as far as the kubeconfig")

	status, out = run1(contractDir(t, func(data map[string]string) {
		data["contract.yaml"] = strings.Replace(data["contract.yaml"], "catalogueSHA256: ", "catalogueSHA256: 00", 1)
	}))
	require.Equal(t, exitError, status)
	require.Contains(t, out, "the release was generated from another catalogue")
}
