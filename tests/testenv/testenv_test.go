package testenv_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

func TestRequiredVersion(t *testing.T) {
	gomod := filepath.Join(t.TempDir(), "go.mod")
	require.NoError(t, os.WriteFile(gomod, []byte("module x\n\ngo 1.26\n\nrequire a.example/one v1.2.3\n\nrequire (\n\tb.example/two v0.4.0 // indirect\n)\n"), 0o644))
	for module, want := range map[string]string{"a.example/one": "v1.2.3", "b.example/two": "v0.4.0"} {
		got, err := testenv.RequiredVersion(gomod, module)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := testenv.RequiredVersion(gomod, "a.example")
	require.ErrorContains(t, err, "does not require a.example")
	_, err = testenv.RequiredVersion(filepath.Join(t.TempDir(), "missing.mod"), "a.example/one")
	require.Error(t, err)
}

// A tool is used only when it prints the pinned version; otherwise the error says how to build it.
func TestToolChecksThePinnedVersion(t *testing.T) {
	cache := t.TempDir()
	gomod := filepath.Join(cache, "go.mod")
	require.NoError(t, os.WriteFile(gomod, []byte("module x\n\ngo 1.26\n\nrequire a.example/tool v1.2.3\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(cache, "bin"), 0o755))
	tool := func(prints string) {
		require.NoError(t, os.WriteFile(filepath.Join(cache, "bin", "tool"), []byte("#!/bin/sh\necho '"+prints+"'\n"), 0o755))
	}

	_, err := testenv.Tool(cache, "tool", gomod, "a.example/tool", "version")
	require.ErrorContains(t, err, "run `make tools`", "missing")

	tool("Version: 1.2.2")
	_, err = testenv.Tool(cache, "tool", gomod, "a.example/tool", "version")
	require.ErrorContains(t, err, "is not a.example/tool v1.2.3")
	require.ErrorContains(t, err, "run `make tools`")

	tool("Version: 1.2.3")
	bin, err := testenv.Tool(cache, "tool", gomod, "a.example/tool", "version")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(cache, "bin", "tool"), bin)
}
