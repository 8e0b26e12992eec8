package controlplane

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Run starts a process with its log and environment and records it; Stop stops what Run started,
// newest first, each reaped (reporting what went wrong before stopping one, and going on), and a
// second Stop has nothing left to stop.
func TestRunAndStop(t *testing.T) {
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	var started, stopped []string
	o := Options{Root: dir, Dir: dir,
		Started: func(p *Process) error { started = append(started, p.Name); return nil },
		BeforeStop: func(p *Process) error {
			stopped = append(stopped, p.Name)
			if p.Name == "first" {
				return errors.New("containers left")
			}
			return nil
		},
	}
	o.defaults()
	c := &ControlPlane{Dir: dir, opts: o}
	for _, name := range []string{"first", "second"} {
		require.NoError(t, c.Run(name, sh, []string{"GREETING=hello from " + name}, "-c", `echo "$GREETING"; exec sleep 60`))
	}
	require.Equal(t, []string{"first", "second"}, started)
	procs := c.procs
	require.Len(t, procs, 2)
	for i, p := range procs {
		require.Equal(t, i+1, p.Seq)
		require.True(t, filepath.IsAbs(p.Path))
		require.Equal(t, &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}, p.Cmd.SysProcAttr, "dies with the test process")
		t.Cleanup(func() { _ = p.Cmd.Process.Kill() })
	}
	require.NoError(t, waitUntil(func() bool { return c.Log("second") == "second log:\nhello from second" }), c.Log("second"))

	require.EqualError(t, c.Stop(), "before stopping first: containers left")
	require.Equal(t, []string{"second", "first"}, stopped, "newest first")
	for _, p := range procs {
		require.ErrorIs(t, p.Cmd.Process.Signal(syscall.Signal(0)), os.ErrProcessDone, "%s reaped", p.Name)
	}
	require.NoError(t, c.Stop())
	require.Equal(t, []string{"second", "first"}, stopped, "nothing left to stop")
}

// A process Command prepares keeps its SysProcAttr (the node layer's kept cluster runs in sessions of
// its own).
func TestRunKeepsCommandsSysProcAttr(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "logs"), 0o755))
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	c := &ControlPlane{Dir: dir, opts: Options{Command: func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		return cmd
	}}}
	require.NoError(t, c.Run("session", sleep, nil, "60"))
	p := c.procs[0]
	t.Cleanup(func() { _ = p.Cmd.Process.Kill() })
	require.Equal(t, &syscall.SysProcAttr{Setsid: true}, p.Cmd.SysProcAttr)
	require.NoError(t, c.Stop())
}

func TestEnables(t *testing.T) {
	const agg = "clusterrole-aggregation-controller"
	require.True(t, enables(DefaultControllers, agg))
	require.True(t, enables([]string{"*"}, agg))
	require.False(t, enables([]string{"*", "-" + agg}, agg))
	require.False(t, enables([]string{"garbage-collector-controller"}, agg))
}

func waitUntil(ok func() bool) error {
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			return os.ErrDeadlineExceeded
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
