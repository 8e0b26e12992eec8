//go:build node

package node

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/tests/testenv/controlplane"
)

const (
	// prefix names every run's network namespace and directory, so that a later run finds what a killed
	// run left behind.
	prefix   = "kubernaut-node-"
	baseDir  = "/var/lib/kubernaut-node"
	netnsDir = "/var/run/netns"

	// Addresses from 198.18.0.0/15 (RFC 2544, benchmarking; never routed), all inside the namespace.
	nodeIP       = "198.18.0.1"
	podCIDR      = "198.18.16.0/24" // the first /24 of clusterCIDR, which kube-controller-manager allocates
	clusterCIDR  = "198.18.16.0/20"
	serviceCIDR  = "198.19.0.0/24"
	apiServiceIP = "198.19.0.1" // the first Service IP: the kubernetes Service
	dnsServiceIP = "198.19.0.10"
	nodeBridge   = "kn0"
	nodeName     = "kubernaut-node"
)

const root = "../.."

// nodeRun is one run's namespace and directory, locked by the process that owns it.
type nodeRun struct {
	Name, Dir string
	lock      *os.File
}

func (r *nodeRun) netnsPath() string { return filepath.Join(netnsDir, r.Name) }

// prerequisites names what is missing: Debian packages (make node-deps) or built binaries and images
// (make node-tools). The layer never skips: a missing part is a failure that says how to get it.
func prerequisites() error {
	var errs []string
	if os.Geteuid() != 0 {
		errs = append(errs, "the node layer runs as root (network namespaces, mounts, containerd, kubelet)")
	}
	var debs []string
	for cmd, pkg := range map[string]string{"nsenter": "util-linux", "ip": "iproute2", "containerd": "containerd",
		"containerd-shim-runc-v2": "containerd", "ctr": "containerd", "runc": "runc", "iptables": "iptables", "ipset": "ipset", "conntrack": "conntrack"} {
		if _, err := exec.LookPath(cmd); err != nil {
			debs = append(debs, fmt.Sprintf("%s (%s)", cmd, pkg))
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			debs = append(debs, "/usr/lib/cni/"+p+" (containernetworking-plugins)")
		}
	}
	if len(debs) > 0 {
		sort.Strings(debs)
		errs = append(errs, "missing Debian packages: "+strings.Join(debs, ", ")+"; run `make node-deps` as root")
	}
	var built []string
	dir := cache.Dir(root)
	for _, b := range append(hostBinaries, imagesIndex) {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			built = append(built, b)
		}
	}
	if len(built) > 0 {
		errs = append(errs, fmt.Sprintf("missing in %s: %s; run `make node-tools`", dir, strings.Join(built, ", ")))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// newRun creates and locks the run directory, then the network namespace with the node's bridge.
func newRun() (*nodeRun, error) {
	id := make([]byte, 4)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	r := &nodeRun{Name: prefix + hex.EncodeToString(id)}
	r.Dir = filepath.Join(baseDir, r.Name)
	if err := os.MkdirAll(filepath.Join(r.Dir, "pids"), 0o700); err != nil {
		return nil, fmt.Errorf("run directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(r.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return r, err
	}
	r.lock = lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return r, fmt.Errorf("lock %s: %w", r.Dir, err)
	}
	if out, err := exec.Command("ip", "netns", "add", r.Name).CombinedOutput(); err != nil {
		return r, fmt.Errorf("ip netns add %s: %w: %s", r.Name, err, out)
	}
	// The node address sits on a bridge device (the kernel here has no dummy interface), /32 so that
	// nothing else is on its link; the Service range is routed to it so that processes in the namespace
	// reach Service IPs through kube-proxy's OUTPUT rules. No default route: nothing leaves.
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", nodeBridge, "type", "bridge"},
		{"ip", "addr", "add", nodeIP + "/32", "dev", nodeBridge},
		{"ip", "link", "set", nodeBridge, "up"},
		{"ip", "route", "add", serviceCIDR, "dev", nodeBridge, "src", nodeIP},
		// Bridged pod traffic must cross iptables, for kube-proxy's DNAT and kube-router's filters.
		{"sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"},
		{"sysctl", "-qw", "net.ipv4.ip_forward=1"},
	}
	for _, s := range steps {
		if out, err := exec.Command("nsenter", append([]string{"--net=" + r.netnsPath(), "--"}, s...)...).CombinedOutput(); err != nil {
			return r, fmt.Errorf("in namespace %s: %s: %w: %s", r.Name, strings.Join(s, " "), err, out)
		}
	}
	return r, nil
}

// cleanup removes everything of the run: processes, mounts, namespace, directory.
func (r *nodeRun) cleanup() error {
	err := cleanupDir(r.Name, r.Dir)
	if r.lock != nil {
		_ = r.lock.Close()
	}
	return err
}

// removeLeftovers cleans up every earlier run whose lock no process holds (a live run elsewhere on
// the machine keeps its lock and is left alone), and namespaces of the prefix without a directory.
func removeLeftovers() ([]string, error) {
	var removed []string
	var errs []error
	entries, _ := os.ReadDir(baseDir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(baseDir, e.Name())
		lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			lock.Close() // a live run
			continue
		}
		if err := cleanupDir(e.Name(), dir); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, e.Name())
		}
		lock.Close()
	}
	namespaces, _ := os.ReadDir(netnsDir)
	for _, n := range namespaces {
		if !strings.HasPrefix(n.Name(), prefix) {
			continue
		}
		if _, err := os.Stat(filepath.Join(baseDir, n.Name())); err == nil {
			continue // owned by a live run (the loop above removed every dead one)
		}
		if out, err := exec.Command("ip", "netns", "delete", n.Name()).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns delete %s: %w: %s", n.Name(), err, out))
		} else {
			removed = append(removed, "namespace "+n.Name())
		}
	}
	return removed, errors.Join(errs...)
}

// cleanupDir stops the run's containers and processes, unmounts everything under its directory,
// deletes its namespace and, once nothing is mounted there any more, its directory.
func cleanupDir(name, dir string) error {
	errs := []error{killContainers(dir)}
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	// Newest first: the files are numbered in start order.
	sort.Sort(sort.Reverse(sort.StringSlice(pidFiles)))
	for _, f := range pidFiles {
		if p := ownProcess(f); p != nil {
			if err := controlplane.StopProcess(p, controlplane.Grace, controlplane.KillWait); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", filepath.Base(f), err))
			}
		}
	}
	errs = append(errs, killContainers(dir)) // a kubelet stopped midway may have started more
	removeCgroups(dir)
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns delete %s: %w: %s", name, err, out))
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		errs = append(errs, fmt.Errorf("%s keeps mounts, not removed: %s", dir, strings.Join(left, ", ")))
	} else if os.Getenv("KUBERNAUT_NODE_KEEP") == "" {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writePIDFile records a started process: its PID and binary, so that cleanup kills it only if that PID
// still runs that binary (a PID may be reused after a reboot or a long time).
func writePIDFile(dir string, seq int, name string, pid int, bin string) error {
	return os.WriteFile(filepath.Join(dir, "pids", fmt.Sprintf("%02d-%s.pid", seq, name)), fmt.Appendf(nil, "%d %s\n", pid, bin), 0o600)
}

func ownProcess(pidFile string) *os.Process {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return nil
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return nil
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil {
		return nil
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != fields[1] {
		return nil
	}
	p, _ := os.FindProcess(pid)
	return p
}

// killContainers kills every container process and shim of the run's containerds, whether they still
// run or not: container processes by the init.pid files runc writes in each task's bundle (killed only
// if their mount table shows the run's snapshot directory), shims by scanning for
// containerd-shim-runc-v2 processes whose -address is a socket of the run. A shim still there after
// SIGKILL is an error.
func killContainers(dir string) error {
	var errs []error
	inits, _ := filepath.Glob(filepath.Join(dir, "node*", "containerd", "state", "io.containerd.runtime.v2.task", "*", "*", "init.pid"))
	for _, f := range inits {
		pid, ok := readPID(f)
		if !ok {
			continue
		}
		if mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid)); err == nil && strings.Contains(string(mounts), dir+"/") {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "containerd-shim-runc-v2" {
			continue
		}
		for i := range len(args) - 1 {
			if args[i] == "-address" && strings.HasPrefix(args[i+1], dir+"/") {
				if proc, err := os.FindProcess(pid); err == nil {
					if err := controlplane.StopProcess(proc, 2*time.Second, controlplane.KillWait); err != nil {
						errs = append(errs, fmt.Errorf("shim: %w", err))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// removeCgroups removes the cgroups containerd made for the run's containers: with the cgroupfs
// driver and no QoS cgroups they are /sys/fs/cgroup/<controller>/k8s.io/<container id> (cgroup v1
// here). A container killed without runc's delete leaves them behind. rmdir removes only an empty
// cgroup, so nothing still in use is touched.
func removeCgroups(dir string) {
	bundles, _ := filepath.Glob(filepath.Join(dir, "node*", "containerd", "state", "io.containerd.runtime.v2.task", "k8s.io", "*"))
	controllers, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, b := range bundles {
		id := filepath.Base(b)
		// The kernel frees a cgroup a moment after its last process exits: retry busy ones, within
		// one second per container.
		deadline := time.Now().Add(time.Second)
		for _, c := range controllers {
			cg := filepath.Join(c, "k8s.io", id)
			for {
				err := syscall.Rmdir(cg)
				if err == nil || !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

func readPID(f string) (int, bool) {
	data, err := os.ReadFile(f)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid, err == nil && pid > 1
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		// Field 5 is the mount point, with spaces and the like octal-escaped.
		mp, err := strconv.Unquote(`"` + strings.ReplaceAll(fields[4], `"`, `\"`) + `"`)
		if err != nil {
			mp = fields[4]
		}
		if strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	return mounts
}

// unmountUnder detaches every mount under dir (kubelet volumes, container root filesystems, pod
// network namespaces and shm), deepest first, repeating while mounts stacked on each other remain.
func unmountUnder(dir string) error {
	for range 5 {
		mounts := mountsUnder(dir)
		if len(mounts) == 0 {
			return nil
		}
		for _, m := range mounts {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	if left := mountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("still mounted: %s", strings.Join(left, ", "))
	}
	return nil
}
