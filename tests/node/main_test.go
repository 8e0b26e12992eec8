//go:build node

// Package node is the real-node layer (layer 6): the control plane, containerd, a kubelet, kube-proxy,
// CoreDNS, kube-router's NetworkPolicy firewall and Tekton Pipelines, all inside a network namespace
// this test creates and removes, with no route out of it. Every binary is built from a pinned module
// (or is a Debian package, see `make node-deps`); every image is built offline (tools/node/imagebuild).
//
// The test binary runs twice: the first process (the supervisor) takes the run's lock, removes what a
// killed earlier run left behind, creates the namespace and re-executes itself inside it with nsenter;
// that second process starts the cluster and runs the tests. Whatever way the second process ends, the
// supervisor then stops every process by its PID file, unmounts, deletes the namespace and the run
// directory. Running the tests inside the namespace is what lets them reach pod and Service IPs, which
// exist only there.
package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// childEnv names the run directory in the re-executed process; its absence marks the supervisor.
const childEnv = "KUBERNAUT_NODE_RUN"

// keepEnv (make demo) keeps the cluster running after tests that passed: its processes are not tied to
// the test process, and neither process stops or removes anything. The run's lock is released, so
// `make demo-down` (make node-clean), or the next node-layer run, removes it like a killed run's.
const keepEnv = "KUBERNAUT_NODE_KEEP"

func keep() bool { return os.Getenv(keepEnv) != "" }

// cluster is the node every test of the package shares, started once by TestMain (in the child).
var cluster *Cluster

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(m, dir))
	}
	os.Exit(supervise())
}

// supervise prepares the run, runs the tests inside the namespace and always cleans up after them.
func supervise() int {
	cleanOnly := os.Getenv("KUBERNAUT_NODE_CLEAN_ONLY") != ""
	if err := prerequisites(); err != nil && !cleanOnly {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	removed, err := removeLeftovers()
	for _, r := range removed {
		fmt.Printf("node: removed leftovers of an earlier run: %s\n", r)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node: leftovers of an earlier run:", err)
		return 1
	}
	// make node-clean: only remove what killed runs left.
	if cleanOnly {
		return 0
	}
	run, err := newRun()
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		if run != nil {
			reportCleanup(run.cleanup())
		}
		return 1
	}
	code := 1
	defer func() {
		if keep() && code == 0 {
			fmt.Printf("node: kept running in network namespace %s (run directory %s); `make demo-down` removes it\n", run.Name, run.Dir)
			_ = run.lock.Close()
			return
		}
		reportCleanup(run.cleanup())
	}()

	cmd := exec.Command("nsenter", append([]string{"--net=" + run.netnsPath(), "--", os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), childEnv+"="+run.Dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// If the supervisor dies, the child gets SIGTERM and stops what it started; a SIGKILLed supervisor
	// leaves the rest to the next run's leftover removal.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "node: start tests in the namespace:", err)
		return 1
	}
	// Forward interrupts (go test's timeout sends SIGQUIT to this process; ^C sends SIGINT) so that the
	// child stops its processes before the supervisor's cleanup.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	if err := cmd.Wait(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		}
	} else {
		code = 0
	}
	return code
}

func reportCleanup(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "node: cleanup:", err)
	}
}

// child starts the cluster inside the namespace, runs the tests and stops the cluster.
func child(m *testing.M, dir string) int {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	started := time.Now()
	c, err := Start(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node: start:", err)
		if c != nil {
			stop(c)
		}
		return 1
	}
	fmt.Printf("node: cluster ready in %s (namespace to Ready node, DNS and Tekton up)\n", time.Since(started).Round(time.Millisecond))
	for _, s := range c.Timings {
		fmt.Printf("node:   %-28s %s\n", s.Name, s.Took.Round(time.Millisecond))
	}
	cluster = c
	code := m.Run()
	if keep() && code == 0 {
		return code
	}
	if !stop(c) && code == 0 {
		code = 1
	}
	return code
}

func stop(c *Cluster) bool {
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "node: stop:", err)
		return false
	}
	return true
}
