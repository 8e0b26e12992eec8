package controlplane

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const (
	// Grace is how long a process has to exit after SIGTERM before it is killed.
	Grace = 5 * time.Second
	// KillWait is how long a process has to be gone after SIGKILL before StopProcess gives up on it.
	KillWait = 5 * time.Second
)

// Process is one process a ControlPlane started.
type Process struct {
	// Name names its log, <Dir>/logs/<Name>.log.
	Name string
	// Path is the binary it runs, symbolic links resolved (what /proc/<pid>/exe shows).
	Path string
	// Seq is its place in start order, from 1.
	Seq int
	Cmd *exec.Cmd
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.Cmd.Process.Pid }

// StopProcess stops p, a child of this process or not: SIGTERM, then up to grace for it to go; if it
// is still there, SIGKILL, then up to afterKill more. A child is reaped. It returns an error naming the
// PID if the process outlives both: it never waits longer than grace and afterKill together.
func StopProcess(p *os.Process, grace, afterKill time.Duration) error {
	_ = p.Signal(syscall.SIGTERM)
	if gone(p.Pid, grace) {
		_, _ = p.Wait() // reap it if it is our child; a stranger's is an error, ignored
		return nil
	}
	_ = p.Kill()
	if gone(p.Pid, afterKill) {
		_, _ = p.Wait()
		return nil
	}
	return fmt.Errorf("process %d still runs %s after SIGTERM and %s after SIGKILL", p.Pid, grace, afterKill)
}

// gone polls, for at most timeout, until pid has exited.
func gone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// alive says whether pid runs. A zombie (state Z) or dead (X) process has exited: its parent reaps it.
// A variable so that a test can stand in for a process that does not die.
var alive = func(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
