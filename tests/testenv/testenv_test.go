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
