package modules_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/jordigilh/kubernaut-execution/internal/modules"
)

// proxy serves modules from a directory, as the Go module proxy protocol lays them out (GOPROXY=file://),
// with a module cache of its own: the test needs no network and leaves the user's cache alone.
func proxy(t *testing.T, mods map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for mv, goMod := range mods {
		path, version, _ := strings.Cut(mv, "@")
		src := filepath.Join(t.TempDir(), "src")
		require.NoError(t, os.MkdirAll(filepath.Join(src, "data"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(src, "go.mod"), []byte(goMod), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(src, "data", "file.txt"), []byte("contents of "+mv+"\n"), 0o644))
		at := filepath.Join(dir, path, "@v")
		require.NoError(t, os.MkdirAll(at, 0o755))
		zip, err := os.Create(filepath.Join(at, version+".zip"))
		require.NoError(t, err)
		require.NoError(t, modzip.CreateFromDir(zip, module.Version{Path: path, Version: version}, src))
		require.NoError(t, zip.Close())
		require.NoError(t, os.WriteFile(filepath.Join(at, version+".mod"), []byte(goMod), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(at, version+".info"), []byte(`{"Version":"`+version+`","Time":"2026-01-01T00:00:00Z"}`), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(at, "list"), []byte(version+"\n"), 0o644))
	}
	t.Setenv("GOPROXY", "file://"+filepath.ToSlash(dir))
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOMODCACHE", t.TempDir())
	t.Setenv("GOFLAGS", "-modcacherw") // so that the temporary cache can be removed
	t.Setenv("GOTOOLCHAIN", "local")   // a module's newer go line must not fetch a toolchain
}

func TestFile(t *testing.T) {
	const (
		plain = "example.com/plain@v1.0.0"
		newer = "example.com/newer@v1.0.0"
	)
	for _, tc := range []struct {
		name         string
		module, file string
		path         string   // PATH, when not the test's
		want         string   // the file's contents
		errs         []string // what the error says, each part
		notFound     bool     // the go command itself was not found
	}{
		{name: "a file of a module", module: plain, file: "data/file.txt", want: "contents of " + plain + "\n"},
		// The go command downloads and verifies such a module but refuses to extract it, failing: its
		// zip is read all the same (Argo CD v3.6 declares go 1.27).
		{name: "a file of a module that declares a newer Go", module: newer, file: "data/file.txt", want: "contents of " + newer + "\n"},
		{name: "a file the module lacks", module: plain, file: "no/such/file", errs: []string{"module " + plain, "file does not exist"}},
		{
			name: "a module the proxy does not have", module: "example.com/absent@v1.0.0", file: "go.mod",
			errs: []string{"go mod download example.com/absent@v1.0.0: exit status 1: ", "example.com/absent@v1.0.0: reading file://", "absent/@v/v1.0.0.info"},
		},
		{
			name: "no go command", module: plain, file: "data/file.txt", path: t.TempDir(),
			errs: []string{"go mod download " + plain + `: exec: "go": executable file not found in $PATH`}, notFound: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy(t, map[string]string{plain: "module example.com/plain\n\ngo 1.22\n", newer: "module example.com/newer\n\ngo 1.999\n"})
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			data, err := modules.File(tc.module, tc.file)
			if len(tc.errs) == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.want, string(data))
				return
			}
			require.Error(t, err)
			for _, part := range tc.errs {
				require.ErrorContains(t, err, part)
			}
			require.Equal(t, tc.notFound, errors.Is(err, exec.ErrNotFound), "the go command's own error is wrapped")
		})
	}
}
