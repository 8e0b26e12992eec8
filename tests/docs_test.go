package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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
