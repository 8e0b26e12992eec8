//go:build node

package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// Nothing is a target until its owner opts it in: in a namespace nobody labelled, the controller
// cannot even bind a run.
func TestRunsRefusedInUnmanagedNamespaces(t *testing.T) {
	installed(t)
	ns := unmanagedNamespace(t, "act-unmanaged")
	controller, _, err := controllerClientsFor(bg, defaultRelease)
	require.NoError(t, err)
	for _, name := range []string{"scale-deployment", "restart-pod"} {
		_, err := provision(bg, defaultRelease, controller, testenv.Action(t, name), "unmanaged-"+name, ns, true)
		require.ErrorContains(t, err, "is not a target", "%s in an unmanaged namespace: want a refusal naming the missing opt-in", name)
	}
}

// From inside a running pod of the action's image, as the run's ServiceAccount, the token the kubelet
// mounted is refused when it patches a Deployment's serviceAccountName, and admitted for what the
// action is for.
func TestRunTokenInsideAPodMeetsTheContract(t *testing.T) {
	installed(t)
	ns := targetNamespace(t, "act-in-pod")
	deploy(t, ns, "web", appImage("v1"), 1)
	a := testenv.Action(t, "patch-deployment")
	controller, _, err := controllerClientsFor(bg, defaultRelease)
	require.NoError(t, err)
	run, err := provision(bg, defaultRelease, controller, a, "in-pod", ns, true)
	require.NoError(t, err)
	t.Cleanup(func() { _ = run.remove(bg, controller) })
	for _, tc := range []struct {
		name, patch, want string
	}{
		{"serviceaccount", `{"spec":{"template":{"spec":{"serviceAccountName":"default"}}}}`, "may change only"},
		{"resources", `{"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"64Mi"}}}]}}}}`, "deployment.apps/web patched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := kubectlPod(t, "in-pod-"+tc.name, run.ServiceAccount, "patch", "deployment/web", "--namespace="+ns, "--type=strategic", "--dry-run=server", "--patch="+tc.patch)
			require.Contains(t, out, tc.want, "kubectl as %s", run.ServiceAccount)
			t.Logf("as %s: %s", run.ServiceAccount, strings.TrimSpace(out))
		})
	}
}

// kubectlPod runs kubectl with args in a restricted pod of the release namespace as serviceAccount,
// and returns its output once it has terminated.
func kubectlPod(t testing.TB, name, serviceAccount string, args ...string) string {
	t.Helper()
	spec := restrictedSpec(cluster.Images["kubectl"])
	spec.ServiceAccountName = serviceAccount
	spec.RestartPolicy = corev1.RestartPolicyNever
	c := &spec.Containers[0]
	c.Name, c.Command, c.Args = "kubectl", []string{"kubectl"}, args
	c.Env = []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}}
	spec.Volumes = []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	_, err := cluster.Client.CoreV1().Pods(releaseNS).Create(bg, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Pods(releaseNS).Delete(bg, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	require.NoError(t, waitFor(bg, 120*time.Second, func() error {
		p, err := cluster.Client.CoreV1().Pods(releaseNS).Get(bg, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return fmt.Errorf("pod %s is %s", name, p.Status.Phase)
		}
		return nil
	}))
	return podLogs(releaseNS, name, "kubectl")
}
