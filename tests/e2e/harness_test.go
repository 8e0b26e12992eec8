//go:build e2e

// Package e2e is the real-cluster layer: etcd, kube-apiserver and kube-controller-manager built from
// the pinned tools/kube module, started on loopback by the tests, and the bundle installed, admitted,
// authorized and run against them.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
	"github.com/jordigilh/kubernaut-execution/tests/testenv/controlplane"
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
			stop(c)
		}
		os.Exit(1)
	}
	fmt.Printf("e2e: control plane ready in %s (etcd, kube-apiserver, kube-controller-manager)\n", time.Since(started).Round(time.Millisecond))
	cluster = c
	code := m.Run()
	if !stop(c) && code == 0 {
		code = 1
	}
	os.Exit(code)
}

func stop(c *Cluster) bool {
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stop control plane:", err)
		return false
	}
	return true
}

// Cluster is a running control plane (tests/testenv/controlplane) and the pinned kubectl.
type Cluster struct {
	*controlplane.ControlPlane
	dir     string
	kubectl string
}

// Start starts a control plane on loopback, in a directory of its own, with
// controlplane.DefaultControllers: no kubelet runs, and the tests set the status other controllers
// would. change, when given, changes the options first (more controllers, more flags).
func Start(ctx context.Context, change ...func(*controlplane.Options)) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "kubernaut-e2e-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir}
	if c.kubectl, err = controlplane.Binary(root, "kubectl"); err != nil {
		return c, err
	}
	o := controlplane.Options{Root: root, Dir: dir, Name: "e2e"}
	for _, f := range change {
		f(&o)
	}
	c.ControlPlane, err = controlplane.Start(ctx, o)
	return c, err
}

// Stop stops what Start started and removes its directory, unless KUBERNAUT_E2E_KEEP is set.
func (c *Cluster) Stop() error {
	var err error
	if c.ControlPlane != nil {
		err = c.ControlPlane.Stop()
	}
	if os.Getenv("KUBERNAUT_E2E_KEEP") == "" {
		err = errors.Join(err, os.RemoveAll(c.dir))
	}
	return err
}

// Shared with the other real-cluster layer (tests/testenv).
var waitFor = testenv.WaitFor

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
	require.NoError(t, err, "namespace %s", name)
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

func nsObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

var metaCreate = metav1.CreateOptions{}
