package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/generate"
)

// The flow picture is what Graphviz draws from its generated source: a picture left stale after the
// source changed fails here, naming the target that redraws it.
func TestFlowPictureIsDrawnFromItsSource(t *testing.T) {
	dot, err := exec.LookPath("dot")
	require.NoError(t, err, "Graphviz's dot is missing: run `make doc-deps` (Debian package graphviz)")
	drawn, err := exec.Command(dot, "-Tpng", filepath.Join(root, generate.FlowSource)).Output()
	require.NoError(t, err)
	committed, err := os.ReadFile(filepath.Join(root, generate.FlowPicture))
	require.NoError(t, err)
	require.True(t, bytes.Equal(drawn, committed), "%s is stale: run `make docs`", generate.FlowPicture)
}

// Every switch the real-cluster layer reads from the environment is documented in the README.
func TestE2ESwitchesAreDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	sources, err := filepath.Glob(filepath.Join(root, "tests", "e2e", "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, sources)
	switches := map[string]bool{}
	for _, file := range sources {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range envSwitch.FindAllSubmatch(data, -1) {
			switches[string(m[1])] = true
		}
	}
	require.NotEmpty(t, switches)
	for name := range switches {
		require.Contains(t, string(readme), name, "%s is read by tests/e2e but not documented in the README", name)
	}
}

var envSwitch = regexp.MustCompile(`os\.(?:Getenv|LookupEnv)\("(KUBERNAUT_[A-Z0-9_]+)"\)`)
