package tests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/render"
)

// The Argo CD examples are valid Applications (the CRD schema of the pinned Argo CD module, strict),
// point at paths that exist, apply server-side into a namespace Argo CD creates with the restricted
// Pod Security labels, and the chart example's values render the chart.
func TestArgoCDExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "examples", "argocd", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 2, "the chart and the production overlay")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			docs, err := render.Split(map[string]string{file: string(data)})
			require.NoError(t, err)
			require.Len(t, docs, 1)
			conform(t, render.NewestKubernetes, docs)

			app := parse(t, docs[0].YAML)
			path, _ := get(app, "spec", "source", "path").(string)
			require.DirExists(t, filepath.Join(root, path))
			require.Equal(t, render.DefaultNamespace, get(app, "spec", "destination", "namespace"))
			require.ElementsMatch(t, []any{"CreateNamespace=true", "ServerSideApply=true"}, get(app, "spec", "syncPolicy", "syncOptions"))
			require.Equal(t, "restricted", get(app, "spec", "syncPolicy", "managedNamespaceMetadata", "labels", "pod-security.kubernetes.io/enforce"))
			if values, ok := get(app, "spec", "source", "helm", "valuesObject").(map[string]any); ok {
				_, err := renderWith(t, render.NewestKubernetes, values)
				require.NoError(t, err, "the example's values render the chart")
			}
		})
	}
}
