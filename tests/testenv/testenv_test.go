package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

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

// WaitFor returns once the probe succeeds; when the timeout passes it returns the probe's last error,
// and when ctx ends, ctx's error.
func TestWaitFor(t *testing.T) {
	calls := 0
	require.NoError(t, testenv.WaitFor(context.Background(), time.Minute, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	}))
	require.Equal(t, 3, calls)

	for _, timeout := range []time.Duration{0, 250 * time.Millisecond} {
		calls = 0
		err := testenv.WaitFor(context.Background(), timeout, func() error {
			calls++
			return fmt.Errorf("attempt %d", calls)
		})
		require.EqualError(t, err, fmt.Sprintf("not ready after %s: attempt %d", timeout, calls), "the last probe's error")
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls = 0
	err := testenv.WaitFor(ctx, time.Minute, func() error {
		calls++
		if calls == 2 {
			cancel()
		}
		return errors.New("not yet")
	})
	require.Equal(t, context.Canceled, err)
	require.Equal(t, 2, calls)
}

// A kubeconfig written by WriteKubeconfig, readable by its owner only, loads as a client configuration
// for the server and the token.
func TestWriteKubeconfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "admin.kubeconfig")
	require.NoError(t, testenv.WriteKubeconfig(file, "e2e", "https://127.0.0.1:6443", "secret-token"))
	info, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	config, err := clientcmd.BuildConfigFromFlags("", file)
	require.NoError(t, err)
	require.Equal(t, "https://127.0.0.1:6443", config.Host)
	require.Equal(t, "secret-token", config.BearerToken)
	require.True(t, config.Insecure)
}

// Must(call).In(t) is call's value, and call's error fails t there.
func TestMust(t *testing.T) {
	require.Equal(t, 42, testenv.Must(42, nil).In(t))

	r := &failRecorder{TB: t}
	done := make(chan int)
	go func() {
		defer close(done)
		done <- testenv.Must(7, errors.New("boom")).In(r)
	}()
	_, returned := <-done
	require.False(t, returned, "In stops the test")
	require.True(t, r.failed)
	require.Contains(t, r.message, "boom")
}

// failRecorder records a failure instead of failing the test it wraps.
type failRecorder struct {
	testing.TB
	failed  bool
	message string
}

func (r *failRecorder) Helper()                   {}
func (r *failRecorder) Errorf(f string, a ...any) { r.message += fmt.Sprintf(f, a...) }
func (r *failRecorder) FailNow()                  { r.failed = true; runtime.Goexit() }
