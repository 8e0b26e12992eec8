package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// The Argo CD examples are valid Applications (the CRD schema of the pinned Argo CD module, strict),
// point at paths that exist, apply server-side into a namespace Argo CD creates with the restricted
// Pod Security labels, and the chart example's values render the chart.
func TestArgoCDExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "examples", "argocd", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 3, "the chart, the production overlay and Tekton Pipelines")
	chartMeta := chartMetadata(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			docs, err := manifest.Read(file, bytes.NewReader(data))
			require.NoError(t, err)
			require.Len(t, docs, 1)
			conform(t, render.NewestKubernetes, docs)

			app := parse(t, docs[0].YAML)
			source := get(app, "spec", "source").(map[string]any)
			wave := get(app, "metadata", "annotations", "argocd.argoproj.io/sync-wave")
			if get(app, "metadata", "name") == "tekton-pipelines" {
				// Before the bundle, at the Tekton version the Tasks are built with.
				require.Equal(t, "-1", wave)
				kustomization := readFile(t, filepath.Join(root, source["path"].(string), "kustomization.yaml"))
				version, err := testenv.RequiredVersion(filepath.Join(root, "go.mod"), "github.com/tektoncd/pipeline")
				require.NoError(t, err)
				require.Contains(t, kustomization, "/tekton-releases/pipeline/previous/"+version+"/release.yaml")
				return
			}
			require.Equal(t, "1", wave)
			if repo := source["repoURL"].(string); strings.HasPrefix(repo, "oci://") {
				// The published chart, at the version Chart.yaml gives.
				require.True(t, strings.HasSuffix(repo, "/"+chartMeta.Name), repo)
				require.Equal(t, ".", source["path"])
				require.Equal(t, chartMeta.Version, source["targetRevision"])
			} else {
				require.DirExists(t, filepath.Join(root, source["path"].(string)))
			}
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
