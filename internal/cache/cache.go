// Package cache locates the project's gitignored cache: generated JSON schemas and built tools, shared
// by the tests, the command run in a checkout and make.
package cache

import (
	"os"
	"path/filepath"
)

// env overrides the cache directory (make sets it to its CACHE).
const env = "KUBERNAUT_CACHE"

// Dir is the cache of the checkout at root: $KUBERNAUT_CACHE, or .cache at root, made absolute so that
// tests and commands running elsewhere find the same one.
func Dir(root string) string {
	if c := os.Getenv(env); c != "" {
		return c
	}
	abs, err := filepath.Abs(filepath.Join(root, ".cache"))
	if err != nil {
		return filepath.Join(root, ".cache")
	}
	return abs
}
