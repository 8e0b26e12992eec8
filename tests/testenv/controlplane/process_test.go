package controlplane

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A process that ignores SIGTERM is killed once the grace period is over, and reaped: StopProcess
// returns after the grace period, not the bound after SIGKILL.
func TestStopProcessKillsAfterGrace(t *testing.T) {
	// The shell says when SIGTERM is ignored, then becomes a sleep that inherits that.
	cmd := exec.Command("sh", "-c", `trap "" TERM; echo ready; exec sleep 60`)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = out.Close() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	const grace, afterKill = 300 * time.Millisecond, 10 * time.Second
	start := time.Now()
	require.NoError(t, StopProcess(cmd.Process, grace, afterKill))
	took := time.Since(start)
	require.GreaterOrEqual(t, took, grace, "SIGTERM is ignored: only SIGKILL stops it")
	require.Less(t, took, grace+afterKill/2, "SIGKILL stops it at once")
	requireReaped(t, cmd.Process)
}

// A process that exits on SIGTERM stops well within the grace period.
func TestStopProcessTerminates(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	const grace = 30 * time.Second
	start := time.Now()
	require.NoError(t, StopProcess(cmd.Process, grace, time.Second))
	require.Less(t, time.Since(start), 5*time.Second, "SIGTERM stops it without waiting out the grace period")
	requireReaped(t, cmd.Process)
}

// A process still there after SIGKILL (here one whose exit goes unseen) is given up on after the
// second bound, with an error naming its PID: StopProcess never waits longer than both bounds.
func TestStopProcessGivesUp(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	pid := cmd.Process.Pid
	real := alive
	alive = func(p int) bool { return p == pid || real(p) }
	t.Cleanup(func() { alive = real })

	const grace, afterKill = 200 * time.Millisecond, 300 * time.Millisecond
	start := time.Now()
	err := StopProcess(cmd.Process, grace, afterKill)
	took := time.Since(start)
	require.ErrorContains(t, err, fmt.Sprintf("process %d still runs", pid))
	require.GreaterOrEqual(t, took, grace+afterKill)
	require.Less(t, took, grace+afterKill+2*time.Second, "bounded")
}

// A stranger's process (not a child) is stopped by PID all the same.
func TestStopProcessNotAChild(t *testing.T) {
	// sh starts sleep in the background, prints its PID and exits: the sleep is not our child.
	out, err := exec.Command("sh", "-c", `sleep 60 > /dev/null 2>&1 & echo $!`).Output()
	require.NoError(t, err)
	pid, err := strconv.Atoi(string(out[:len(out)-1]))
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	p, err := os.FindProcess(pid)
	require.NoError(t, err)
	require.True(t, alive(pid))

	require.NoError(t, StopProcess(p, 5*time.Second, time.Second))
	require.False(t, alive(pid), "gone (or a zombie for init to reap)")
}

func requireReaped(t *testing.T, p *os.Process) {
	t.Helper()
	require.False(t, alive(p.Pid))
	require.ErrorIs(t, p.Signal(syscall.Signal(0)), os.ErrProcessDone, "reaped by StopProcess")
}
