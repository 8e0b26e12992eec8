// Package render renders the chart through the Helm SDK, the project's only templating engine, into
// sorted manifest documents. The generator, the tests and the benchmarks all call it.
package render

import (
	"cmp"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
)

// Default release the Kustomize base and the golden files are rendered as.
const (
	DefaultRelease   = "kubernaut-execution"
	DefaultNamespace = "kubernaut-system"
	// NewestKubernetes and OldestKubernetes bound the chart's kubeVersion range; renders are checked at both.
	NewestKubernetes = "v1.37.2"
	OldestKubernetes = "v1.31.14"
)

// LoadChart reads the chart in dir. The generator passes the parts it has just computed as generated
// (chart-relative path to content) and the folders they belong in as generatedDirs: files on disk under
// those folders are ignored, so a render never sees a stale generated file.
func LoadChart(dir string, generated map[string][]byte, generatedDirs ...string) (*chart.Chart, error) {
	byName := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if slices.ContainsFunc(generatedDirs, func(g string) bool { return strings.HasPrefix(rel, g+"/") }) {
			return nil
		}
		data, err := os.ReadFile(path)
		byName[rel] = data
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	for name, data := range generated {
		byName[name] = data
	}
	buffered := make([]*loader.BufferedFile, 0, len(byName))
	for name, data := range byName {
		buffered = append(buffered, &loader.BufferedFile{Name: name, Data: data})
	}
	slices.SortFunc(buffered, func(a, b *loader.BufferedFile) int { return cmp.Compare(a.Name, b.Name) })
	ch, err := loader.LoadFiles(buffered)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %w", dir, err)
	}
	return ch, nil
}

// Options say how to render: as which release, for which Kubernetes, with which values.
type Options struct {
	Release     string
	Namespace   string
	KubeVersion string
	// Values are laid over the chart's values.yaml, as `helm install -f` would.
	Values map[string]any
	// Cluster answers the chart's `lookup` calls, as during `helm install`; nil renders offline, as
	// `helm template` does, where every lookup is empty.
	Cluster engine.ClientProvider
	// Tests renders the chart's test hooks (templates/tests/) too, as `helm template` does unless
	// --skip-tests. An install creates them only when `helm test` runs, so renders of what a release
	// installs (the Kustomize base, the overlays) leave them out.
	Tests bool
}

// Render renders ch as `helm template` would, with explicit Capabilities (the SDK's default
// KubeVersion is v1.20.0), values validated against values.schema.json and the chart's kubeVersion
// range enforced. Documents come back sorted by template, then in template order.
func Render(ch *chart.Chart, opts Options) ([]manifest.Document, error) {
	kv, err := chartutil.ParseKubeVersion(opts.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("kubernetes version %q: %w", opts.KubeVersion, err)
	}
	if r := ch.Metadata.KubeVersion; r != "" && !chartutil.IsCompatibleRange(r, kv.String()) {
		return nil, fmt.Errorf("chart %s requires kubeVersion %s, which is incompatible with Kubernetes %s", ch.Name(), r, kv)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	vals, err := chartutil.ToRenderValues(ch, opts.Values, chartutil.ReleaseOptions{
		Name: opts.Release, Namespace: opts.Namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	var rendered map[string]string
	if opts.Cluster != nil {
		rendered, err = engine.RenderWithClientProvider(ch, vals, opts.Cluster)
	} else {
		rendered, err = engine.Render(ch, vals)
	}
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if !opts.Tests {
		maps.DeleteFunc(rendered, func(name string, _ string) bool { return strings.HasPrefix(name, ch.Name()+"/templates/tests/") })
	}
	return documents(rendered)
}

// documents turns engine output (template name to text) into documents, sorted by template, dropping
// NOTES.txt.
func documents(rendered map[string]string) ([]manifest.Document, error) {
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		if !strings.HasSuffix(name, "NOTES.txt") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var docs []manifest.Document
	for _, name := range names {
		d, err := manifest.Read(name, strings.NewReader(rendered[name]))
		if err != nil {
			return nil, fmt.Errorf("rendered YAML: %w", err)
		}
		docs = append(docs, d...)
	}
	return docs, nil
}
