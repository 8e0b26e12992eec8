package writer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/writer"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files writer.Files
		err   string
	}{
		{name: "owned dir and file", files: writer.Files{"gen/a.yaml": []byte("a"), "gen/sub/b.yaml": []byte("b"), "doc.md": []byte("d")}},
		{name: "outside owned paths", files: writer.Files{"charts/values.yaml": []byte("x")}, err: "not under a generated path"},
		{name: "prefix is not ownership", files: writer.Files{"generated/a.yaml": []byte("x")}, err: "not under a generated path"},
		{name: "escapes the root", files: writer.Files{"gen/../../etc/passwd": []byte("x")}, err: "escapes the output directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			stale := filepath.Join(root, "gen", "stale.yaml")
			require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o755))
			require.NoError(t, os.WriteFile(stale, []byte("old"), 0o644))
			keep := filepath.Join(root, "keep.yaml")
			require.NoError(t, os.WriteFile(keep, []byte("mine"), 0o644))

			err := writer.Write(root, []string{"gen", "doc.md"}, tc.files)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.FileExists(t, stale, "a refused write wipes nothing")
				return
			}
			require.NoError(t, err)
			require.NoFileExists(t, stale)
			require.FileExists(t, keep)
			for p, content := range tc.files {
				got, err := os.ReadFile(filepath.Join(root, p))
				require.NoError(t, err)
				require.Equal(t, content, got)
			}
		})
	}
}
