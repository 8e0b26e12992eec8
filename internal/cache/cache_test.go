package cache_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
)

func TestDir(t *testing.T) {
	wd, err := os.Getwd()
	require.NoError(t, err)
	for _, tc := range []struct {
		name, env, root, want string
	}{
		{name: "the checkout's .cache", root: "/src/checkout", want: "/src/checkout/.cache"},
		{name: "a relative root made absolute", root: "../..", want: filepath.Join(wd, "..", "..", ".cache")},
		{name: "the environment wins", env: "/elsewhere/cache", root: "/src/checkout", want: "/elsewhere/cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBERNAUT_CACHE", tc.env)
			require.Equal(t, tc.want, cache.Dir(tc.root))
		})
	}
}
