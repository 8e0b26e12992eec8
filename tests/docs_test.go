package tests

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// The flow picture is drawn from its generated source: docs/flow.dot is what the generator writes from
// the execution contract, and docs/flow.sha256, which `make docs` writes when it draws, records that
// source's and the picture's SHA-256. A source changed without a redraw, or a picture changed by hand,
// fails here, naming the target that redraws it. The PNG's bytes are Graphviz's and differ between its
// versions, so they are never compared with a fresh drawing.
func TestFlowPictureIsDrawnFromItsSource(t *testing.T) {
	static, err := execution.Static(testenv.Catalogue(t))
	require.NoError(t, err)
	source, err := os.ReadFile(filepath.Join(root, generate.FlowSource))
	require.NoError(t, err)
	require.Equal(t, string(generate.FlowDot(static)), string(source), "%s is stale: run `make generate`", generate.FlowSource)

	want := map[string]string{}
	for _, file := range []string{generate.FlowSource, generate.FlowPicture} {
		data, err := os.ReadFile(filepath.Join(root, file))
		require.NoError(t, err)
		want[file] = fmt.Sprintf("%x", sha256.Sum256(data))
	}
	sums, err := os.ReadFile(filepath.Join(root, generate.FlowSums))
	require.NoError(t, err, "run `make docs`")
	recorded := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(sums), "\n"), "\n") {
		sum, file, ok := strings.Cut(line, "  ")
		require.True(t, ok, "%s: %q is not a line of sha256sum", generate.FlowSums, line)
		recorded[file] = sum
	}
	require.Equal(t, want, recorded, "%s was not drawn from %s: run `make docs`", generate.FlowPicture, generate.FlowSource)
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
