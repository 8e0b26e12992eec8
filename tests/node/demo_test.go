//go:build node

package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// The main job, as `make demo` shows it (and every node-layer run checks it): the chart installed with
// its defaults, the controller running from its image, a namespace opted in, and three ActionRuns
// applied by an alerting agent: one that succeeds, one the gate refuses from the live target, one that
// waits until a person approves it. With KUBERNAUT_NODE_KEEP the cluster stays up afterwards.
func TestDemo(t *testing.T) {
	installed(t)
	awaitController(t)
	const ns = "demo"
	labels := map[string]string{execution.ManagedLabel: "true", execution.EnvironmentLabel: "staging"}
	for k, v := range restricted {
		labels[k] = v
	}
	_, err := cluster.Client.CoreV1().Namespaces().Create(bg, namespaceObject(ns, labels), metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, waitFor(bg, 30*time.Second, func() error {
		_, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(bg, "default", metav1.GetOptions{})
		return err
	}))
	deploy(t, ns, "web", appImage("v1"), 1)
	testenv.Must(waitPods(ns, "app=web", 1, nil)).In(t)
	// A pod nobody owns: deleting it would not restart it, so the gate refuses restart-pod.
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug-shell", Labels: map[string]string{"app": "debug"}}, Spec: restrictedSpec(appImage("v1"))}
	_, err = cluster.Client.CoreV1().Pods(ns).Create(bg, bare, metav1.CreateOptions{})
	require.NoError(t, err)
	agent := userIn(t, ns, "alert-agent", "requester")
	oncall := userIn(t, ns, "on-call", "approver")

	scale := applyRun(t, ns, "scale-web", "scale-deployment", map[string]any{"deployment": "web", "replicas": int64(2)}, "", agent, oncall)
	refused := applyRun(t, ns, "restart-debug-shell", "restart-pod", map[string]any{"pod": "debug-shell"}, "", agent, oncall)
	approved := applyRun(t, ns, "list-web-pods", "custom-script", map[string]any{"resource": "pods", "selector": "app=web"}, "", agent, oncall)
	for _, c := range []struct {
		run  *v1alpha1.ActionRun
		want v1alpha1.Phase
	}{{scale, v1alpha1.Succeeded}, {refused, v1alpha1.Refused}, {approved, v1alpha1.Succeeded}} {
		assert.Equal(t, c.want, c.run.Status.Phase, "%s: %+v", c.run.Name, c.run.Status.Conditions)
	}
	assert.Equal(t, oncall.name, approved.Status.ApprovedBy, "list-web-pods approved by")
	testenv.Must(waitPods(ns, "app=web", 2, nil)).In(t)

	kubeconfig := cluster.Kubeconfig
	kubectl := filepath.Join(cluster.cache, "bin", "kubectl")
	out, err := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "actionruns", "--namespace", ns, "--output", "wide").CombinedOutput()
	require.NoError(t, err, "kubectl get actionruns: %s", out)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s\n", out)
	for _, r := range []*v1alpha1.ActionRun{scale, refused, approved} {
		fmt.Fprintf(&b, "%s (%s): %s\n", r.Name, r.Spec.Action, r.Status.Phase)
		for _, c := range r.Status.Conditions {
			fmt.Fprintf(&b, "  %-9s %-5s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	if keep() {
		netns := filepath.Base(os.Getenv(childEnv))
		fmt.Fprintf(&b, "\nThe cluster keeps running in network namespace %s. Its kubeconfig: %s\nTo keep exploring (as root):\n", netns, kubeconfig)
		fmt.Fprintf(&b, "  ip netns exec %s %s --kubeconfig %s get actionruns,actionapprovals -A\n", netns, kubectl, kubeconfig)
		fmt.Fprintf(&b, "  ip netns exec %s %s --kubeconfig %s describe actionrun -n %s list-web-pods\n", netns, kubectl, kubeconfig, ns)
		fmt.Fprintf(&b, "make demo-down removes it.\n")
	}
	fmt.Print(b.String())
}
