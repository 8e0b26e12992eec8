// Package controlplane starts the control plane both real-cluster layers run on: etcd, kube-apiserver
// and kube-controller-manager, the binaries `make tools` builds from the pinned tools/kube module into
// the cache. The real-cluster layer (tests/e2e) runs it on loopback; the real-node layer (tests/node)
// runs it on the node's address inside its network namespace and starts the scheduler, kubelet,
// containerd and add-ons beside it with Run. Every process is started here and stopped here, by its
// PID, newest first, and only those.
package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// DefaultControllers are the controllers kube-controller-manager runs unless Options say otherwise:
// garbage collector, ServiceAccount, namespace and ClusterRole aggregation only (no kubelet runs on
// loopback, and the tests set the status other controllers would). Without aggregation, admin and edit
// would have no rules at all.
var DefaultControllers = []string{"garbage-collector-controller", "serviceaccount-controller", "namespace-controller", "clusterrole-aggregation-controller"}

// Options say how to start a control plane. Only Root and Dir are required.
type Options struct {
	// Root is the repository's root: binaries come from the cache's bin directory
	// (cache.Dir(Root)) and must be the versions Root/tools/kube/go.mod pins.
	Root string
	// Dir holds etcd's data, the serving certificates (certs/), the ServiceAccount signing key, the
	// token file, the admin kubeconfig and every process's log (logs/<name>.log). It is created if
	// missing and never removed: the caller owns it.
	Dir string
	// Name names the admin kubeconfig's cluster, user and context; default "controlplane".
	Name string
	// Address is where kube-apiserver listens and what it advertises; default 127.0.0.1. On a loopback
	// address the endpoint reconciler is off (the kubernetes Service's endpoints cannot hold loopback);
	// on another address it runs as in any cluster.
	Address string
	// Ports are the ports to listen on; a zero one is a free port, picked in this process's network
	// namespace (set them all when Command runs the processes elsewhere).
	Ports Ports
	// AuthorizationModes are kube-apiserver's --authorization-mode; default RBAC.
	AuthorizationModes []string
	// ServiceCIDR is kube-apiserver's --service-cluster-ip-range; default 10.0.0.0/24.
	ServiceCIDR string
	// Controllers are kube-controller-manager's --controllers; default DefaultControllers.
	Controllers []string
	// EtcdArgs, APIServerArgs and ControllerManagerArgs go at the end of each command line.
	EtcdArgs, APIServerArgs, ControllerManagerArgs []string
	// Command makes the command that runs a binary; default exec.Command. It may run it through a
	// prefix (nsenter into a network namespace), set its environment, or set SysProcAttr; without
	// SysProcAttr a process gets Pdeathsig SIGKILL, so that nothing outlives a crashed test.
	Command func(name string, args ...string) *exec.Cmd
	// Started, when set, is called after each process starts (to record its PID elsewhere); an error
	// fails Run.
	Started func(*Process) error
	// BeforeStop, when set, is called before each process is stopped; Stop reports its error and goes
	// on.
	BeforeStop func(*Process) error
}

// Ports of a control plane; zero is a free port.
type Ports struct {
	Etcd, EtcdPeer, APIServer int
}

// ControlPlane is a running control plane, administered with a token of system:masters.
type ControlPlane struct {
	Dir, Server, Kubeconfig, AdminToken string
	// Config is the admin's client configuration (the serving certificate is self-signed, not verified).
	Config  *rest.Config
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Mapper maps kinds to resources through discovery; ResetMapper forgets what it learnt (after CRDs
	// are installed).
	Mapper meta.ResettableRESTMapper

	opts  Options
	mu    sync.Mutex
	procs []*Process // in start order; stopped in reverse
}

// binaries the control plane and the tests run, by name: the module of tools/kube that pins each one
// and the arguments that print its version.
var binaries = map[string]struct {
	module  string
	version []string
}{
	"etcd":                    {"go.etcd.io/etcd/server/v3", []string{"--version"}},
	"kube-apiserver":          {"k8s.io/kubernetes", []string{"--version"}},
	"kube-controller-manager": {"k8s.io/kubernetes", []string{"--version"}},
	"kube-scheduler":          {"k8s.io/kubernetes", []string{"--version"}},
	"kubectl":                 {"k8s.io/kubernetes", []string{"version", "--client"}},
}

// Binary is a binary of tools/kube that `make tools` built (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kubectl), at the version tools/kube pins.
func Binary(root, name string) (string, error) {
	b, ok := binaries[name]
	if !ok {
		return "", fmt.Errorf("%s is not a binary of tools/kube", name)
	}
	return testenv.Tool(cache.Dir(root), name, filepath.Join(root, "tools", "kube", "go.mod"), b.module, b.version...)
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "controlplane"
	}
	if o.Address == "" {
		o.Address = "127.0.0.1"
	}
	if len(o.AuthorizationModes) == 0 {
		o.AuthorizationModes = []string{"RBAC"}
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.0.0.0/24"
	}
	if len(o.Controllers) == 0 {
		o.Controllers = DefaultControllers
	}
	if o.Command == nil {
		o.Command = exec.Command
	}
}

// Start starts etcd, kube-apiserver and kube-controller-manager, each ready (by a positive signal,
// polled with a bound) before the next, and returns once the ServiceAccount controller has made
// kube-system's default ServiceAccount (and, when it runs, the aggregation controller has filled the
// admin ClusterRole). The ControlPlane is never nil: on an error it holds what did start, for Stop.
func Start(ctx context.Context, o Options) (*ControlPlane, error) {
	o.defaults()
	c := &ControlPlane{Dir: o.Dir, opts: o}
	if o.Root == "" || o.Dir == "" {
		return c, errors.New("controlplane: Options.Root and Options.Dir are required")
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "logs"), 0o755); err != nil {
		return c, err
	}
	bins := map[string]string{}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		bin, err := Binary(o.Root, name)
		if err != nil {
			return c, err
		}
		bins[name] = bin
	}
	etcdPort, err := portOr(o.Ports.Etcd, "127.0.0.1")
	if err != nil {
		return c, err
	}
	peerPort, err := portOr(o.Ports.EtcdPeer, "127.0.0.1")
	if err != nil {
		return c, err
	}
	apiPort, err := portOr(o.Ports.APIServer, o.Address)
	if err != nil {
		return c, err
	}

	etcdURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(etcdPort))
	peerURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(peerPort))
	if err := c.Run("etcd", bins["etcd"], nil, append([]string{"--data-dir", filepath.Join(o.Dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL, "--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default=" + peerURL}, o.EtcdArgs...)...); err != nil {
		return c, err
	}
	if err := testenv.WaitFor(ctx, 60*time.Second, func() error { return testenv.HTTPOK(etcdURL+"/health", "", `"health":"true"`) }); err != nil {
		return c, fmt.Errorf("etcd: %w\n%s", err, c.Log("etcd"))
	}

	saKey, saPub, err := writeSigningKey(o.Dir)
	if err != nil {
		return c, err
	}
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return c, err
	}
	c.AdminToken = hex.EncodeToString(token)
	tokens := filepath.Join(o.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.AdminToken+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return c, err
	}
	c.Server = "https://" + net.JoinHostPort(o.Address, strconv.Itoa(apiPort))
	apiArgs := []string{"--etcd-servers", etcdURL, "--bind-address", o.Address, "--secure-port", strconv.Itoa(apiPort),
		"--advertise-address", o.Address, "--cert-dir", filepath.Join(o.Dir, "certs"), "--service-account-key-file", saPub,
		"--service-account-signing-key-file", saKey, "--service-account-issuer", "https://kubernetes.default.svc",
		"--token-auth-file", tokens, "--authorization-mode", strings.Join(o.AuthorizationModes, ","),
		"--service-cluster-ip-range", o.ServiceCIDR}
	if ip := net.ParseIP(o.Address); ip != nil && ip.IsLoopback() {
		apiArgs = append(apiArgs, "--endpoint-reconciler-type", "none")
	}
	if err := c.Run("kube-apiserver", bins["kube-apiserver"], nil, append(apiArgs, o.APIServerArgs...)...); err != nil {
		return c, err
	}
	if err := testenv.WaitFor(ctx, 90*time.Second, func() error { return testenv.HTTPOK(c.Server+"/readyz", c.AdminToken, "ok") }); err != nil {
		return c, fmt.Errorf("kube-apiserver: %w\n%s", err, c.Log("kube-apiserver"))
	}
	c.Config = &rest.Config{Host: c.Server, BearerToken: c.AdminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return c, err
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		return c, err
	}
	c.Mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	c.Kubeconfig = filepath.Join(o.Dir, "admin.kubeconfig")
	if err := testenv.WriteKubeconfig(c.Kubeconfig, o.Name, c.Server, c.AdminToken); err != nil {
		return c, err
	}

	if err := c.Run("kube-controller-manager", bins["kube-controller-manager"], nil, append([]string{"--kubeconfig", c.Kubeconfig,
		"--service-account-private-key-file", saKey, "--controllers", strings.Join(o.Controllers, ","),
		"--bind-address", "127.0.0.1", "--secure-port", "0", "--leader-elect=false"}, o.ControllerManagerArgs...)...); err != nil {
		return c, err
	}
	aggregation := enables(o.Controllers, "clusterrole-aggregation-controller")
	if err := testenv.WaitFor(ctx, 90*time.Second, func() error {
		if _, err := c.Client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return err
		}
		if !aggregation {
			return nil
		}
		admin, err := c.Client.RbacV1().ClusterRoles().Get(ctx, "admin", metav1.GetOptions{})
		if err == nil && len(admin.Rules) == 0 {
			err = errors.New("admin ClusterRole not aggregated yet")
		}
		return err
	}); err != nil {
		return c, fmt.Errorf("kube-controller-manager: %w\n%s", err, c.Log("kube-controller-manager"))
	}
	return c, nil
}

// enables says whether kube-controller-manager's --controllers list runs controller name, on by
// default: named, or "*" without "-name".
func enables(controllers []string, name string) bool {
	if slices.Contains(controllers, "-"+name) {
		return false
	}
	return slices.Contains(controllers, name) || slices.Contains(controllers, "*")
}

// writeSigningKey writes a fresh ServiceAccount token signing key pair into dir.
func writeSigningKey(dir string) (key, pub string, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", "", err
	}
	key, pub = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	return key, pub, nil
}

// portOr is port, or when it is zero a port free on host now.
func portOr(port int, host string) (int, error) {
	if port != 0 {
		return port, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Run starts bin as process name, with env added to the environment, its output in
// <Dir>/logs/<name>.log; Stop stops it with the control plane's own processes.
func (c *ControlPlane) Run(name, bin string, env []string, args ...string) error {
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	logFile, err := os.Create(filepath.Join(c.Dir, "logs", name+".log"))
	if err != nil {
		return err
	}
	defer logFile.Close() // the process has its own descriptor
	cmd := c.opts.Command(real, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if len(env) > 0 {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, env...)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c.mu.Lock()
	p := &Process{Name: name, Path: real, Seq: len(c.procs) + 1, Cmd: cmd}
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	if c.opts.Started != nil {
		return c.opts.Started(p)
	}
	return nil
}

// Log is the tail of a process's log, for errors.
func (c *ControlPlane) Log(name string) string {
	data, _ := os.ReadFile(filepath.Join(c.Dir, "logs", name+".log"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return name + " log:\n" + strings.Join(lines[max(0, len(lines)-25):], "\n")
}

// Stop stops every process started (by Start and by Run), newest first, by its PID: SIGTERM, SIGKILL
// after Grace, and gives up on one still there KillWait later, naming it. It leaves Dir alone and may
// be called again.
func (c *ControlPlane) Stop() error {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	var errs []error
	for _, p := range slices.Backward(procs) {
		if c.opts.BeforeStop != nil {
			if err := c.opts.BeforeStop(p); err != nil {
				errs = append(errs, fmt.Errorf("before stopping %s: %w", p.Name, err))
			}
		}
		if err := StopProcess(p.Cmd.Process, Grace, KillWait); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// ResetMapper makes Mapper rediscover the API server's resources (after CRDs are installed).
func (c *ControlPlane) ResetMapper() { c.Mapper.Reset() }

// Token is a short-lived token of a ServiceAccount, from the TokenRequest API.
func (c *ControlPlane) Token(ctx context.Context, namespace, name string) (string, error) {
	tr, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3 * 3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

// TokenConfig is a client configuration authenticated with token and nothing else.
func (c *ControlPlane) TokenConfig(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = token
	return cfg
}

// As is a client, and a dynamic client, authenticated with token.
func (c *ControlPlane) As(token string) (kubernetes.Interface, dynamic.Interface, error) {
	cfg := c.TokenConfig(token)
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	dc, err := dynamic.NewForConfig(cfg)
	return kc, dc, err
}

// Impersonate is the admin's client configuration acting as user, in groups (the API server adds
// system:authenticated): what `kubectl --as user --as-group group` does.
func (c *ControlPlane) Impersonate(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(c.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}
