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
	for _, pkg := range []string{"execution", "execution/runrbac", "execution/jobs", "catalogue/steps", "redact"} {
		require.Empty(t, heavyDeps(t, mod+pkg), pkg)
	}
	require.Empty(t, heavyDeps(t, mod+"execution/gate", "github.com/open-policy-agent/"))
	// The check sees a heavy dependency where there is one: the Task generator imports Tekton.
	require.NotEmpty(t, heavyDeps(t, mod+"internal/tekton"))
}
