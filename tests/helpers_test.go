// Package tests holds the render, Kustomize and schema layers of the test suite: every output the
// project ships is rendered the way users render it and checked.
package tests

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/internal/fixture"
	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
)

const root = ".."

var chartDir = filepath.Join(root, generate.ChartDir)

var loadChart = sync.OnceValues(func() (*chart.Chart, error) { return render.LoadChart(chartDir, nil) })

func mustChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := loadChart()
	require.NoError(t, err)
	return ch
}

func readValues(t testing.TB, file string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	vals := map[string]any{}
	require.NoError(t, yaml.Unmarshal(data, &vals))
	return vals
}

func renderWith(t testing.TB, kubeVersion string, vals map[string]any) ([]manifest.Document, error) {
	t.Helper()
	return render.Render(mustChart(t), render.Options{
		Release: render.DefaultRelease, Namespace: render.DefaultNamespace, KubeVersion: kubeVersion, Values: vals,
	})
}

// object is a rendered document parsed for assertions.
type object map[string]any

func parse(t *testing.T, doc []byte) object {
	t.Helper()
	o := object{}
	require.NoError(t, yaml.Unmarshal(doc, &o))
	return o
}

func objects(t *testing.T, docs []manifest.Document) map[string]object {
	t.Helper()
	out := map[string]object{}
	for _, d := range docs {
		key := d.Kind() + "/" + d.Namespace() + "/" + d.Name()
		require.NotContains(t, out, key, "two objects named %s", key)
		out[key] = parse(t, d.YAML)
	}
	return out
}

// requireSameObjects compares two renders object by object, so a difference names the object.
func requireSameObjects(t *testing.T, want, got map[string]object) {
	t.Helper()
	require.ElementsMatch(t, slices.Collect(maps.Keys(want)), slices.Collect(maps.Keys(got)))
	for key, o := range want {
		require.Equal(t, o, got[key], key)
	}
}

// get walks a path of map keys and list indexes.
func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := o.(map[string]any)
			if !ok {
				if om, isObj := o.(object); isObj {
					m = om
				} else {
					return nil
				}
			}
			o = m[k]
		case int:
			l, ok := o.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}

// wants reads the `# want: MESSAGE` lines at the top of a fixture.
func wants(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	out := fixture.Wants(data)
	require.NotEmpty(t, out, "%s has no `# want:` header", file)
	return out
}

func readFile(t testing.TB, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(data)
}

// readPolicyDir reads a policy ConfigMap's data from a directory of its files, as the gate takes it.
func readPolicyDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	data := map[string]string{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		content, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		data[e.Name()] = string(content)
	}
	return data
}
