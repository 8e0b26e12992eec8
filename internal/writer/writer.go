// Package writer is the generator's only way to the disk: it wipes what the generator owns and writes
// the new files, sorted, so a removed action leaves nothing stale and two runs give identical trees.
package writer

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Files maps slash-separated paths, relative to the output root, to their contents.
type Files map[string][]byte

// Paths returns the file paths in sorted order.
func (f Files) Paths() []string {
	paths := make([]string, 0, len(f))
	for p := range f {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// Write removes every owned path under root (a directory or a single file), then writes files. Every
// file must lie under an owned path, so the generator can never overwrite a hand-written file.
func Write(root string, owned []string, files Files) error {
	for _, p := range files.Paths() {
		if !slices.ContainsFunc(owned, func(o string) bool { return p == o || strings.HasPrefix(p, o+"/") }) {
			return fmt.Errorf("write %s: not under a generated path (%s)", p, strings.Join(owned, ", "))
		}
		if path.IsAbs(p) || slices.Contains(strings.Split(p, "/"), "..") {
			return fmt.Errorf("write %s: path escapes the output directory", p)
		}
	}
	for _, o := range owned {
		if err := os.RemoveAll(filepath.Join(root, filepath.FromSlash(o))); err != nil {
			return fmt.Errorf("wipe %s: %w", o, err)
		}
	}
	for _, p := range files.Paths() {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.WriteFile(dst, files[p], 0o644); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}
