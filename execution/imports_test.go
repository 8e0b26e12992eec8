package execution_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A controller author imports these packages without Helm, kustomize, kubeconform, Tekton or (except
// execution/gate) OPA: the dependency lists say so, from `go list -deps`.
func TestImportsStayLight(t *testing.T) {
	heavy := []string{"helm.sh/", "sigs.k8s.io/kustomize/", "github.com/yannh/kubeconform", "github.com/tektoncd/", "github.com/open-policy-agent/"}
	for pkg, allowed := range map[string][]string{
		"github.com/jordigilh/kubernaut-execution/execution":         nil,
		"github.com/jordigilh/kubernaut-execution/execution/runrbac": nil,
		"github.com/jordigilh/kubernaut-execution/execution/jobs":    nil,
		"github.com/jordigilh/kubernaut-execution/catalogue/steps":   nil,
		"github.com/jordigilh/kubernaut-execution/redact":            nil,
		"github.com/jordigilh/kubernaut-execution/execution/gate":    {"github.com/open-policy-agent/"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		require.NoError(t, err, "%s", out)
		for _, dep := range strings.Fields(string(out)) {
			for _, h := range heavy {
				if strings.HasPrefix(dep, h) && !contains(allowed, h) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
