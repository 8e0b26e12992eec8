//go:build node

package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
	"github.com/jordigilh/kubernaut-execution/tests/testenv/controlplane"
)

// Binaries under the cache that the layer runs on the host side of the pods (make node-tools).
var hostBinaries = []string{"bin/etcd", "bin/kube-apiserver", "bin/kube-controller-manager", "bin/kube-scheduler",
	"bin/kubelet", "bin/kube-proxy", "bin/kube-router", "bin/tekton/controller"}

const imagesIndex = "images/index.json"

// Cluster is the running node and its control plane (tests/testenv/controlplane), which starts and
// stops every process of the node too.
type Cluster struct {
	*controlplane.ControlPlane
	Images  map[string]string // image name (imagebuild) -> reference
	Timings []Timing
	cache   string
}

// kubeletNode is one kubelet and its containerd. The first is started with the cluster; a second one
// (the drain test's) only when asked for.
type kubeletNode struct {
	Name, IP, PodCIDR, Bridge, Dir string
	socket                         string
	healthzPort                    int
}

var firstNode = kubeletNode{Name: nodeName, IP: nodeIP, PodCIDR: podCIDR, Bridge: "cni0", Dir: "node1", healthzPort: 10248}

// Timing is how long one start-up stage took.
type Timing struct {
	Name string
	Took time.Duration
}

func (c *Cluster) stage(name string, start time.Time) {
	c.Timings = append(c.Timings, Timing{name, time.Since(start)})
}

// Start starts every component inside the namespace the process runs in, each stage ready (by a
// positive signal, polled with a bound) before the next.
func Start(ctx context.Context, dir string) (*Cluster, error) {
	c := &Cluster{cache: cache.Dir(root)}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"control plane", func(ctx context.Context) error { return c.startControlPlane(ctx, dir) }},
		{"containerd + images", func(ctx context.Context) error { return c.startContainerd(ctx, &firstNode) }},
		{"kubelet (node Ready)", func(ctx context.Context) error { return c.startKubelet(ctx, &firstNode) }},
		{"kube-proxy + kube-router", c.startNetwork},
		{"CoreDNS (answers)", c.startDNS},
		{"Tekton (a TaskRun ran)", c.startTekton},
	}
	for _, s := range steps {
		t := time.Now()
		if err := s.fn(ctx); err != nil {
			return c, fmt.Errorf("%s: %w", s.name, err)
		}
		c.stage(s.name, t)
	}
	return c, nil
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.cache, "bin", name) }

// command runs a component inside the namespace, which it inherits. Each component dies with the test
// process, unless the cluster is kept (make demo): then it is its own session, and cleanup stops it by
// its PID file.
func command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if keep() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	return cmd
}

// Stop stops the processes newest first (SIGTERM, then SIGKILL after a grace period, each bounded),
// killing the containers once the kubelet is gone and before containerd stops.
func (c *Cluster) Stop() error {
	if c.ControlPlane == nil {
		return nil
	}
	return c.ControlPlane.Stop()
}

// Shared with the other real-cluster layer (tests/testenv).
var (
	waitFor = testenv.WaitFor
	httpOK  = testenv.HTTPOK
)

// startControlPlane starts etcd, kube-apiserver and kube-controller-manager on the node's address,
// every controller on, then kube-scheduler. Every process the cluster starts records a PID file in
// dir for the supervisor's cleanup.
func (c *Cluster) startControlPlane(ctx context.Context, dir string) error {
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Root: root, Dir: dir, Name: "node",
		// A real advertise address (not loopback), so the endpoint reconciler runs as in any cluster and
		// the kubernetes Service and EndpointSlice hold what the chart's lookup reads.
		Address:            nodeIP,
		Ports:              controlplane.Ports{Etcd: 2379, EtcdPeer: 2380, APIServer: 6443},
		AuthorizationModes: []string{"Node", "RBAC"},
		ServiceCIDR:        serviceCIDR,
		Controllers:        []string{"*"},
		EtcdArgs:           []string{"--listen-metrics-urls", "http://127.0.0.1:2381"},
		APIServerArgs:      []string{"--kubelet-preferred-address-types", "InternalIP"},
		ControllerManagerArgs: []string{
			// The self-signed serving certificate file holds its CA too; published as kube-root-ca.crt
			// it lets in-cluster clients (kubectl in the action pods) verify the API server.
			"--root-ca-file", filepath.Join(dir, "certs", "apiserver.crt"),
			"--allocate-node-cidrs", "--cluster-cidr", clusterCIDR, "--node-cidr-mask-size", "24", "--service-cluster-ip-range", serviceCIDR,
			// The run budget's quota counts Tekton's TaskRuns, whose CRDs arrive after the controller
			// manager starts: a short resync lets it count them within seconds, not five minutes.
			"--resource-quota-sync-period=10s",
		},
		Command: command,
		Started: func(p *controlplane.Process) error { return writePIDFile(dir, p.Seq, p.Name, p.Pid(), p.Path) },
		BeforeStop: func(p *controlplane.Process) error {
			if filepath.Base(p.Path) == "containerd" {
				return killContainers(dir)
			}
			return nil
		},
	})
	c.ControlPlane = cp
	if err != nil {
		return err
	}
	if err := c.Run("kube-scheduler", c.bin("kube-scheduler"), nil, "--kubeconfig", c.Kubeconfig, "--leader-elect=false",
		"--bind-address", "127.0.0.1", "--secure-port", "10259"); err != nil {
		return err
	}
	return waitFor(ctx, 90*time.Second, func() error {
		if _, err := c.Client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
			return fmt.Errorf("%w\n%s", err, c.Log("kube-controller-manager"))
		}
		if err := httpOK("https://127.0.0.1:10259/healthz", "", "ok"); err != nil {
			return fmt.Errorf("kube-scheduler: %w\n%s", err, c.Log("kube-scheduler"))
		}
		return nil
	})
}

// startContainerd starts containerd with a root, state, socket and CNI configuration of its own, and
// imports the offline images.
func (c *Cluster) startContainerd(ctx context.Context, n *kubeletNode) error {
	base := filepath.Join(c.Dir, n.Dir)
	cd := filepath.Join(base, "containerd")
	for _, d := range []string{cd, filepath.Join(base, "cni", "net.d"), filepath.Join(base, "cni", "ipam")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	n.socket = filepath.Join(cd, "containerd.sock")
	cni := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "kubernaut-node",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, n.Bridge, filepath.Join(base, "cni", "ipam"), n.PodCIDR)
	if err := os.WriteFile(filepath.Join(base, "cni", "net.d", "10-kubernaut-node.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	var images []struct{ Name, Ref, Tar string }
	data, err := os.ReadFile(filepath.Join(c.cache, imagesIndex))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &images); err != nil {
		return fmt.Errorf("%s: %w", imagesIndex, err)
	}
	c.Images = map[string]string{}
	for _, i := range images {
		c.Images[i.Name] = i.Ref
	}
	// restrict_oom_score_adj: a process here cannot lower its oom_score_adj, and runc fails every
	// sandbox without it. netns_mounts_under_state_dir: pod network namespaces are mounted under the
	// run's state directory, so that cleanup finds them with every other mount of the run.
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(cd, "root"), filepath.Join(cd, "state"), n.socket, n.socket+".ttrpc", filepath.Join(cd, "opt"),
		c.Images["pause"], filepath.Join(base, "cni", "net.d"))
	confPath := filepath.Join(cd, "config.toml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		return err
	}
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		return err
	}
	if err := c.Run(n.Dir+"-containerd", containerd, nil, "--config", confPath); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, func() error {
		_, err := ctr(ctx, n.socket, "version")
		return err
	}); err != nil {
		return fmt.Errorf("containerd: %w\n%s", err, c.Log(n.Dir+"-containerd"))
	}
	for _, i := range images {
		// --all-platforms: without it an image built without a platform index is filtered out.
		if out, err := ctr(ctx, n.socket, "images", "import", "--all-platforms", filepath.Join(c.cache, "images", i.Tar)); err != nil {
			return fmt.Errorf("import %s: %w: %s", i.Ref, err, out)
		}
	}
	out, err := ctr(ctx, n.socket, "images", "ls", "-q")
	if err != nil {
		return err
	}
	for _, i := range images {
		if !strings.Contains(out, normalizeRef(i.Ref)+"\n") {
			return fmt.Errorf("image %s not in containerd after import:\n%s", i.Ref, out)
		}
	}
	return nil
}

// normalizeRef is a reference as containerd names it (docker.io/library defaults spelled out).
func normalizeRef(ref string) string {
	first, _, _ := strings.Cut(ref, "/")
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		if !strings.Contains(ref, "/") {
			ref = "library/" + ref
		}
		ref = "docker.io/" + ref
	}
	return ref
}

func ctr(ctx context.Context, socket string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", socket, "--namespace", "k8s.io"}, args...)...).CombinedOutput()
	return string(out), err
}

func (c *Cluster) startKubelet(ctx context.Context, n *kubeletNode) error {
	kd := filepath.Join(c.Dir, n.Dir, "kubelet")
	if err := os.MkdirAll(kd, 0o755); err != nil {
		return err
	}
	resolv := filepath.Join(kd, "resolv.conf")
	// Pods get the cluster DNS only; the host's resolvers are outside the namespace anyway.
	if err := os.WriteFile(resolv, []byte("nameserver "+dnsServiceIP+"\n"), 0o644); err != nil {
		return err
	}
	// cgroup v1 here, with cpu and cpuacct apart: cgroupfs, no QoS cgroups, no allocatable
	// enforcement (../shared/TOOLCHAIN.md). Image GC and eviction thresholds are out of the way: a
	// shared machine's disk must not make the kubelet delete the offline images or evict test pods.
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
containerRuntimeEndpoint: unix://%s
address: %s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
clusterDNS: [%s]
clusterDomain: cluster.local
resolvConf: %s
podLogsDir: %s
# The API server calls the kubelet without a client certificate (logs of TaskRun steps); only
# processes and pods inside the namespace can reach this kubelet.
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
serializeImagePulls: false
`, n.socket, n.IP, n.healthzPort, dnsServiceIP, resolv, filepath.Join(kd, "pod-logs"))
	confPath := filepath.Join(kd, "config.yaml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		return err
	}
	logName := n.Dir + "-kubelet"
	if err := c.Run(logName, c.bin("kubelet"), nil, "--config", confPath, "--kubeconfig", c.Kubeconfig, "--root-dir", kd,
		"--cert-dir", filepath.Join(kd, "pki"), "--hostname-override", n.Name, "--node-ip", n.IP); err != nil {
		return err
	}
	return waitFor(ctx, 120*time.Second, func() error {
		node, err := c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("%w\n%s", err, c.Log(logName))
		}
		if node.Spec.PodCIDR != n.PodCIDR {
			return fmt.Errorf("node podCIDR %q, want %q (the CNI configuration's subnet)", node.Spec.PodCIDR, n.PodCIDR)
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node not Ready: %v\n%s", node.Status.Conditions, c.Log(logName))
	})
}

// startNetwork starts kube-proxy (iptables mode) and kube-router's firewall only (no routing, no
// service proxy, no CNI: the bridge plugin and kube-proxy do those).
func (c *Cluster) startNetwork(ctx context.Context) error {
	// conntrack: zeros leave the kernel's values alone (they are global, not the namespace's).
	config := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: %s
hostnameOverride: %s
clusterCIDR: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.Kubeconfig, nodeName, clusterCIDR, nodeIP)
	confPath := filepath.Join(c.Dir, "kube-proxy.yaml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		return err
	}
	if err := c.Run("kube-proxy", c.bin("kube-proxy"), nil, "--config", confPath); err != nil {
		return err
	}
	if err := waitFor(ctx, 60*time.Second, func() error {
		// Ready once it has programmed the kubernetes Service.
		out, err := exec.CommandContext(ctx, "iptables-save", "-t", "nat").CombinedOutput()
		if err != nil || !strings.Contains(string(out), apiServiceIP+"/32") {
			return fmt.Errorf("no rule for %s yet (%v)\n%s", apiServiceIP, err, c.Log("kube-proxy"))
		}
		return nil
	}); err != nil {
		return err
	}
	if err := c.Run("kube-router", c.bin("kube-router"), nil, "--kubeconfig", c.Kubeconfig, "--run-firewall=true", "--run-router=false",
		"--run-service-proxy=false", "--enable-cni=false", "--hostname-override", nodeName, "--health-port=0", "--metrics-port=0"); err != nil {
		return err
	}
	return waitFor(ctx, 60*time.Second, func() error {
		out, err := exec.CommandContext(ctx, "iptables-save", "-t", "filter").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "KUBE-ROUTER-FORWARD") {
			return fmt.Errorf("kube-router chains not installed yet (%v)\n%s", err, c.Log("kube-router"))
		}
		return nil
	})
}

// apply server-side applies documents as the admin (`kubectl apply --server-side`).
func (c *Cluster) apply(ctx context.Context, docs []manifest.Document) error {
	return c.applyAs(ctx, c.Dynamic, docs)
}

func (c *Cluster) applyAs(ctx context.Context, dyn dynamic.Interface, docs []manifest.Document) error {
	_, err := testenv.ServerSideApply(ctx, dyn, c.Mapper, "node-test", docs)
	return err
}

func (c *Cluster) applyYAML(ctx context.Context, name, text string) error {
	docs, err := manifest.Read(name, strings.NewReader(text))
	if err != nil {
		return err
	}
	return c.apply(ctx, docs)
}

// established waits for a CRD to be served.
func (c *Cluster) established(ctx context.Context, name string) error {
	crd := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	return waitFor(ctx, 60*time.Second, func() error {
		obj, err := c.Dynamic.Resource(crd).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
		for _, cond := range conds {
			if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return fmt.Errorf("CRD %s not established", name)
	})
}

// lookupDNS asks CoreDNS, through the kube-dns Service IP (kube-proxy's rules), for a name's A record.
func lookupDNS(ctx context.Context, host string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, dnsServiceIP+":53")
	}}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return r.LookupHost(ctx, host)
}

var errNotYet = errors.New("not yet")
