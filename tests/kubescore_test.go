package tests

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// kubeScore runs the pinned kube-score (make tools) on documents and returns its CRITICAL lines.
func kubeScore(t *testing.T, docs []manifest.Document) []string {
	t.Helper()
	bin, err := testenv.Tool(cache.Dir(root), "kube-score", filepath.Join(root, "tools", "kubescore", "go.mod"), "github.com/zegl/kube-score", "version")
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "render.yaml")
	require.NoError(t, os.WriteFile(file, manifest.Join(docs), 0o644))
	out, err := exec.Command(bin, "score", "--output-format", "ci", file).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: it found something
		require.NoError(t, err, "%s", out)
	}
	var critical []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "[CRITICAL]") {
			critical = append(critical, line)
		}
	}
	return critical
}

// kube-score finds nothing CRITICAL in the default render, helm test pods included (operators score
// `helm template`, which renders them), and the production overlay.
func TestKubeScoreFindsNothingCritical(t *testing.T) {
	docs := renderWithTests(t, readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml")))
	var testPods int
	for _, d := range docs {
		if d.Kind() == "Pod" && filepath.Dir(d.Source) == filepath.Join(mustChart(t).Name(), "templates", "tests") {
			testPods++
		}
	}
	require.Equal(t, 2, testPods, "the render scored has the helm test pods")
	require.Empty(t, kubeScore(t, docs), "default render")
	require.Empty(t, kubeScore(t, build(t, overlayDir("production"))), "production overlay")

	// Control: without the chart's reasoned ignore annotations kube-score does report those checks.
	var bare []manifest.Document
	for _, d := range docs {
		d.YAML = regexp.MustCompile(`(?m)^\s+kube-score/ignore: .*\n`).ReplaceAll(d.YAML, nil)
		bare = append(bare, d)
	}
	critical := strings.Join(kubeScore(t, bare), "\n")
	require.Contains(t, critical, "ImagePullPolicy is not set to Always")
	require.Contains(t, critical, "selector doesn't match any pods")
}
