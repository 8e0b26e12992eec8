// Package e2e is the real-cluster layer: etcd, kube-apiserver and kube-controller-manager built from
// the pinned tools/kube module, started on loopback by the tests, and the bundle installed, admitted,
// authorized and run against them.
package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

const root = "../.."

// cluster is the one control plane all tests of this package share.
var cluster *Cluster

func TestMain(m *testing.M) {
	started := time.Now()
	c, err := Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start control plane:", err)
		if c != nil {
			c.Stop()
		}
		os.Exit(1)
	}
	fmt.Printf("e2e: control plane ready in %s (etcd, kube-apiserver, kube-controller-manager)\n", time.Since(started).Round(time.Millisecond))
	cluster = c
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

// Cluster is a running control plane.
type Cluster struct {
	Dir        string
	Server     string
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	kubectl    string
	procs      []*exec.Cmd // in start order; stopped in reverse
	restMapper meta.ResettableRESTMapper
}

// binaries of the control plane, by name: the module of tools/kube that pins each one and the
// arguments that print its version.
var binaries = map[string]struct {
	module  string
	version []string
}{
	"etcd":                    {"go.etcd.io/etcd/server/v3", []string{"--version"}},
	"kube-apiserver":          {"k8s.io/kubernetes", []string{"--version"}},
	"kube-controller-manager": {"k8s.io/kubernetes", []string{"--version"}},
	"kubectl":                 {"k8s.io/kubernetes", []string{"version", "--client"}},
}

// binary returns a control-plane binary that `make tools` built, at the version tools/kube pins.
func binary(name string) (string, error) {
	b := binaries[name]
	return testenv.Tool(cache.Dir(root), name, filepath.Join(root, "tools", "kube", "go.mod"), b.module, b.version...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts etcd, kube-apiserver and kube-controller-manager (garbage collector, ServiceAccount,
// namespace and ClusterRole aggregation controllers only: no kubelet runs, and the tests set the
// status other controllers would). Without aggregation, admin and edit would have no rules at all.
// controllerManagerArgs go on kube-controller-manager's command line: a second --controllers adds
// controllers to these.
func Start(ctx context.Context, controllerManagerArgs ...string) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "kubernaut-e2e-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir}
	for name := range binaries {
		if _, err := binary(name); err != nil {
			return c, err
		}
	}
	c.kubectl, _ = binary("kubectl")
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			return c, err
		}
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if err := c.run("etcd", "--data-dir", filepath.Join(dir, "etcd"), "--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL, "--initial-cluster", "default="+peerURL); err != nil {
		return c, err
	}
	if err := waitFor(ctx, 30*time.Second, func() error { return httpOK(etcdURL+"/health", "", `"health":"true"`) }); err != nil {
		return c, fmt.Errorf("etcd: %w\n%s", err, c.log("etcd"))
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return c, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return c, err
	}
	saKey, saPub := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return c, err
	}
	if err := os.WriteFile(saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return c, err
	}
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return c, err
	}
	admin := hex.EncodeToString(token)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(admin+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return c, err
	}
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[2])
	if err := c.run("kube-apiserver", "--etcd-servers", etcdURL, "--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(ports[2]),
		"--cert-dir", filepath.Join(dir, "certs"), "--service-account-key-file", saPub, "--service-account-signing-key-file", saKey,
		"--service-account-issuer", "https://kubernetes.default.svc", "--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC", "--service-cluster-ip-range", "10.0.0.0/24", "--advertise-address", "127.0.0.1",
		"--endpoint-reconciler-type", "none"); err != nil {
		return c, err
	}
	if err := waitFor(ctx, 60*time.Second, func() error { return httpOK(c.Server+"/readyz", admin, "ok") }); err != nil {
		return c, fmt.Errorf("kube-apiserver: %w\n%s", err, c.log("kube-apiserver"))
	}
	c.Config = &rest.Config{Host: c.Server, BearerToken: admin, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 200, Burst: 400}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return c, err
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.Config); err != nil {
		return c, err
	}
	c.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := testenv.WriteKubeconfig(c.Kubeconfig, "e2e", c.Server, admin); err != nil {
		return c, err
	}
	if err := c.run("kube-controller-manager", append([]string{"--kubeconfig", c.Kubeconfig, "--service-account-private-key-file", saKey,
		"--controllers", "garbage-collector-controller,serviceaccount-controller,namespace-controller,clusterrole-aggregation-controller",
		"--bind-address", "127.0.0.1", "--secure-port", "0", "--leader-elect=false"}, controllerManagerArgs...)...); err != nil {
		return c, err
	}
	// Ready when the ServiceAccount controller has made kube-system's default ServiceAccount and the
	// aggregation controller has filled the admin role.
	if err := waitFor(ctx, 60*time.Second, func() error {
		if _, err := c.Client.CoreV1().ServiceAccounts("kube-system").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return err
		}
		admin, err := c.Client.RbacV1().ClusterRoles().Get(ctx, "admin", metav1.GetOptions{})
		if err == nil && len(admin.Rules) == 0 {
			err = errors.New("admin ClusterRole not aggregated yet")
		}
		return err
	}); err != nil {
		return c, fmt.Errorf("kube-controller-manager: %w\n%s", err, c.log("kube-controller-manager"))
	}
	return c, nil
}

// run starts a control-plane process, its output in <dir>/<name>.log. Pdeathsig kills it if the test
// process dies first, so nothing outlives a crashed test.
func (c *Cluster) run(name string, args ...string) error {
	bin, err := binary(name)
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	c.procs = append(c.procs, cmd)
	return nil
}

func (c *Cluster) log(name string) string {
	data, _ := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// Stop stops what Start started, by process id, newest first: SIGTERM, then SIGKILL after a grace
// period (an API server whose etcd is gone may ignore SIGTERM for a long time).
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	if os.Getenv("KUBERNAUT_E2E_KEEP") == "" {
		_ = os.RemoveAll(c.Dir)
	}
}

// Shared with the other real-cluster layer (tests/testenv).
var (
	waitFor = testenv.WaitFor
	httpOK  = testenv.HTTPOK
)

// Token is a short-lived token of a ServiceAccount, from the TokenRequest API.
func (c *Cluster) Token(ctx context.Context, namespace, name string) (string, error) {
	tr, err := c.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// As is a client authenticated with a token.
func (c *Cluster) As(token string) (kubernetes.Interface, error) {
	cfg := rest.AnonymousClientConfig(c.Config)
	cfg.BearerToken = token
	return kubernetes.NewForConfig(cfg)
}

// Kubectl runs the pinned kubectl with a token and nothing else: an empty kubeconfig, its cache in home.
func (c *Cluster) Kubectl(ctx context.Context, home, token string, args ...string) (string, error) {
	empty := filepath.Join(home, "kubeconfig")
	if err := os.WriteFile(empty, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--server=" + c.Server, "--token=" + token, "--insecure-skip-tls-verify=true", "--kubeconfig=" + empty}, args...)...)
	cmd.Env = []string{"HOME=" + home, "KUBECACHEDIR=" + filepath.Join(home, ".kube", "cache")}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), fmt.Errorf("kubectl %s: exit %d: %s", strings.Join(args, " "), exit.ExitCode(), out)
	}
	return string(out), err
}

// namespace creates a namespace for one test, with labels, and removes it after. It is a target
// (labelled kubernaut.ai/managed=true) unless labels say otherwise: unmanagedNamespace makes one that
// is not.
func namespace(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	all := map[string]string{execution.ManagedLabel: "true"}
	maps.Copy(all, labels)
	return createNamespace(t, name, all)
}

// unmanagedNamespace creates a namespace nobody opted in.
func unmanagedNamespace(t *testing.T, name string) string {
	t.Helper()
	return createNamespace(t, name, nil)
}

func createNamespace(t *testing.T, name string, labels map[string]string) string {
	t.Helper()
	ctx := context.Background()
	ns := nsObject(name)
	ns.Labels = labels
	_, err := cluster.Client.CoreV1().Namespaces().Create(ctx, ns, metaCreate)
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// mapper maps kinds to resources through discovery (reset after installing CRDs).
func (c *Cluster) mapper() meta.ResettableRESTMapper {
	if c.restMapper == nil {
		c.restMapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	}
	return c.restMapper
}

func (c *Cluster) resetMapper() { c.restMapper = nil }

func nsObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

var metaCreate = metav1.CreateOptions{}
