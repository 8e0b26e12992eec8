package execution_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var heavy = []string{"helm.sh/", "sigs.k8s.io/kustomize/", "github.com/yannh/kubeconform", "github.com/tektoncd/", "github.com/open-policy-agent/"}

// heavyDeps lists a package's dependencies under the heavy prefixes, except the allowed ones.
func heavyDeps(t *testing.T, pkg string, allowed ...string) []string {
	out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var found []string
	for _, dep := range strings.Fields(string(out)) {
		for _, h := range heavy {
			if strings.HasPrefix(dep, h) && !slices.Contains(allowed, h) {
				found = append(found, dep)
			}
		}
	}
	return found
}

// A controller author imports these packages without Helm, kustomize, kubeconform, Tekton or (except
// execution/gate) OPA: the dependency lists say so, from `go list -deps`.
func TestImportsStayLight(t *testing.T) {
	const mod = "github.com/jordigilh/kubernaut-execution/"
	for _, pkg := range []string{"execution", "execution/runrbac", "execution/jobs", "execution/steps", "redact"} {
		require.Empty(t, heavyDeps(t, mod+pkg), pkg)
	}
	require.Empty(t, heavyDeps(t, mod+"execution/gate", "github.com/open-policy-agent/"))
	// The check sees a heavy dependency where there is one: the Task generator imports Tekton.
	require.NotEmpty(t, heavyDeps(t, mod+"internal/tekton"))
}

// stepsImports are the only imports of package steps outside the standard library: the catalogue and
// core/v1-level Kubernetes types. The Task generator and the Job builder both build their steps there,
// so nothing either needs (Tekton's types, client-go, OPA) may come in with it.
var stepsImports = []string{
	"github.com/jordigilh/kubernaut-execution/catalogue",
	"k8s.io/api/core/v1",
	"k8s.io/apimachinery/pkg/api/resource",
	"k8s.io/utils/ptr",
}

// importsBeyond lists a package's direct imports outside the standard library and allowed.
func importsBeyond(t *testing.T, pkg string, allowed []string) []string {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var found []string
	for _, imp := range strings.Fields(string(out)) {
		// A standard library path has no dot in its first element.
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") && !slices.Contains(allowed, imp) {
			found = append(found, imp)
		}
	}
	return found
}

func TestStepsImportOnlyTheCatalogueAndCoreTypes(t *testing.T) {
	const mod = "github.com/jordigilh/kubernaut-execution/"
	require.Empty(t, importsBeyond(t, mod+"execution/steps", stepsImports))
	// The check sees an import beyond the list where there is one: the Task generator imports Tekton's
	// types and the execution contract besides package steps.
	beyond := importsBeyond(t, mod+"internal/tekton", append(stepsImports, mod+"execution/steps"))
	require.Contains(t, beyond, "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1")
	require.Contains(t, beyond, mod+"execution")
}
