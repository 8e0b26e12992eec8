package tests

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/internal/schemas"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var schemaOnce sync.Map // version -> func() (string, error)

// schemaDir returns the generated schemas of a Kubernetes version, generating them on first use into
// the gitignored cache.
func schemaDir(t testing.TB, version string) string {
	t.Helper()
	dir := schemas.Dir(root, version)
	once, _ := schemaOnce.LoadOrStore(version, sync.OnceValue(func() error { return schemas.Ensure(version, dir) }))
	require.NoError(t, once.(func() error)())
	return dir
}

// conform validates docs with kubeconform, strict and offline, failing on any invalid document, any
// kind without a schema and any schema that does not compile.
func conform(t *testing.T, version string, docs []manifest.Document) {
	t.Helper()
	dir := schemaDir(t, version)
	v, err := validator.New([]string{schemas.PathTemplate(dir)}, validator.Opts{
		Strict: true, KubernetesVersion: strings.TrimPrefix(version, "v"), IgnoreMissingSchemas: false,
	})
	require.NoError(t, err)
	for _, d := range docs {
		res := v.ValidateResource(resource.Resource{Path: d.Source, Bytes: d.YAML})
		require.Equal(t, validator.Valid, res.Status, "%s %s/%s (%s) at Kubernetes %s: %v %v", d.Kind(), d.Namespace(), d.Name(), d.Source, version, res.Err, res.ValidationErrors)
	}
}

func TestKubeconformValuesMatrix(t *testing.T) {
	forEachMatrixRender(t, func(t *testing.T, _, kubeVersion string, docs []manifest.Document) {
		conform(t, kubeVersion, docs)
	})
}

func TestKubeconformKustomize(t *testing.T) {
	dirs := []string{filepath.Join(root, "kustomize", "base")}
	for _, o := range overlays {
		dirs = append(dirs, overlayDir(o))
	}
	for _, dir := range dirs {
		docs := build(t, dir)
		for _, kv := range kubeVersions {
			t.Run(filepath.Base(dir)+"@"+kv, func(t *testing.T) { conform(t, kv, docs) })
		}
	}
}

func validate(t *testing.T, dir string, doc []byte) validator.Result {
	v, err := validator.New([]string{schemas.PathTemplate(dir)}, validator.Opts{Strict: true, KubernetesVersion: strings.TrimPrefix(render.NewestKubernetes, "v")})
	require.NoError(t, err)
	return v.ValidateResource(resource.Resource{Path: "fixture", Bytes: doc})
}

// Strictness: a misspelled field is an error, not ignored, for built-in kinds and CRDs alike.
func TestKubeconformRejectsMisspelledFields(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "strict", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			doc, err := os.ReadFile(file)
			require.NoError(t, err)
			res := validate(t, schemaDir(t, render.NewestKubernetes), doc)
			require.Equal(t, validator.Invalid, res.Status)
			for _, w := range wants(t, file) {
				require.ErrorContains(t, res.Err, w)
			}
		})
	}
}

// A kind with no schema is an error, never a skip.
func TestKubeconformFailsOnKindWithoutSchema(t *testing.T) {
	res := validate(t, schemaDir(t, render.NewestKubernetes), []byte("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"))
	require.Equal(t, validator.Error, res.Status)
	require.ErrorContains(t, res.Err, "could not find schema for Widget")
}

// kubeconform treats a schema that does not compile as missing; schemas.Compile tells them apart,
// and the validation still fails rather than passing the document.
func TestBrokenSchemaIsAnError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, schemas.FileName("", "v1", "ConfigMap"))
	require.NoError(t, os.WriteFile(file, []byte(`{"type": "object", "properties": {"data": {"type": 12}}}`), 0o644))
	require.ErrorContains(t, schemas.Compile(file), "does not compile")
	res := validate(t, dir, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"))
	require.NotEqual(t, validator.Valid, res.Status)
}

// Every generated schema that a shipped render uses compiles (Generate checks all of them; this pins
// the ones that matter by name so a generator change cannot drop them).
func TestShippedKindsHaveCompilingSchemas(t *testing.T) {
	for _, kv := range kubeVersions {
		dir := schemaDir(t, kv)
		for _, name := range []string{
			"clusterrole-rbac-v1.json", "clusterrolebinding-rbac-v1.json", "role-rbac-v1.json", "rolebinding-rbac-v1.json",
			"serviceaccount-v1.json", "deployment-apps-v1.json", "podtemplate-v1.json", "service-v1.json",
			"networkpolicy-networking-v1.json", "configmap-v1.json", "task-tekton-v1.json",
		} {
			require.NoError(t, schemas.Compile(filepath.Join(dir, name)), "%s at %s", name, kv)
		}
	}
}

// The Task schema comes from the same Tekton version whose Go types generate and validate the Tasks.
func TestTektonSchemaPinMatchesGoMod(t *testing.T) {
	version, err := testenv.RequiredVersion(filepath.Join(root, "go.mod"), "github.com/tektoncd/pipeline")
	require.NoError(t, err)
	require.Contains(t, schemas.CRDs, schemas.CRD{Module: "github.com/tektoncd/pipeline@" + version, Path: "config/300-crds/300-task.yaml"})
}
