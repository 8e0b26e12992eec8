//go:build node

package node

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// helmTest runs `helm test` on the shared release with the Helm SDK and returns the hook pods' logs.
func helmTest(t testing.TB) (string, error) {
	t.Helper()
	cfg, err := helmConfig(releaseNS)
	require.NoError(t, err)
	test := action.NewReleaseTesting(cfg)
	test.Namespace, test.Timeout = releaseNS, 3*time.Minute
	rel, err := test.Run(release)
	var logs bytes.Buffer
	if rel != nil {
		require.NoError(t, test.GetPodLogs(&logs, rel))
	}
	return logs.String(), err
}

// The chart's helm test runs on the node: the access check as the controller's ServiceAccount with
// the kubernaut-execution image, the NetworkPolicy check with kubectl. Granting the controller one
// thing it must never hold (reading secrets, as a stolen token would want) makes the same helm test
// fail, naming it in its namespace and cluster-wide.
func TestHelmTest(t *testing.T) {
	installed(t)
	logs, err := helmTest(t)
	require.NoError(t, err, logs)
	require.Contains(t, logs, "the controller's access is as promised")
	require.Contains(t, logs, "networkpolicy.networking.k8s.io/"+release+"-action-pods")

	name := "test-control-secrets"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: defaultRelease.controllerSA(), Namespace: releaseNS}}}
	_, err = cluster.Client.RbacV1().ClusterRoles().Create(bg, role, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cluster.Client.RbacV1().ClusterRoleBindings().Create(bg, binding, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cluster.Client.RbacV1().ClusterRoleBindings().Delete(bg, name, metav1.DeleteOptions{})
		_ = cluster.Client.RbacV1().ClusterRoles().Delete(bg, name, metav1.DeleteOptions{})
	})
	require.NoError(t, testenv.AwaitServiceAccountAllowed(bg, cluster.Client, releaseNS, defaultRelease.controllerSA(),
		authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets"}))
	logs, err = helmTest(t)
	require.Error(t, err, logs)
	require.Contains(t, logs, "FAIL get secrets in "+releaseNS)
	require.Contains(t, logs, "FAIL get secrets cluster-wide")
	require.Contains(t, logs, "ok   list secrets cluster-wide", "a grant of get is not a grant of list")
}

// The command's image checks a render in a pod, offline (the schemas are in the image): a clean render
// exits 0, a render with one wildcard verb exits 1 naming the rule, as it would in a CI pipeline.
func TestCheckImage(t *testing.T) {
	ch, err := render.LoadChart(filepath.Join(root, generate.ChartDir), nil)
	require.NoError(t, err)
	docs, err := render.Render(ch, render.Options{Release: release, Namespace: releaseNS, KubeVersion: render.NewestKubernetes,
		Values: map[string]any{"networkPolicy": map[string]any{"apiServer": map[string]any{"cidrs": []any{"10.96.0.1/32"}}}}})
	require.NoError(t, err)
	clean := string(manifest.Join(docs))
	// One wildcard verb in the controller's ClusterRole.
	for i, d := range docs {
		if d.Kind() == "ClusterRole" && d.Name() == defaultRelease.controllerSA() {
			var role rbacv1.ClusterRole
			require.NoError(t, yaml.Unmarshal(d.YAML, &role))
			role.Rules[0].Verbs = append(role.Rules[0].Verbs, "*")
			docs[i].YAML, err = yaml.Marshal(role)
			require.NoError(t, err)
		}
	}
	wildcard := string(manifest.Join(docs))
	require.NotEqual(t, clean, wildcard)
	ns := targetNamespace(t, "check-image")
	for _, tc := range []struct {
		name, render string
		exit         int32
		says         string
	}{
		{name: "clean", render: clean, exit: 0, says: "documents conform"},
		{name: "wildcard", render: wildcard, exit: 1, says: "no-wildcards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: tc.name}, Data: map[string]string{"render.yaml": tc.render}}
			_, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(bg, cm, metav1.CreateOptions{})
			require.NoError(t, err)
			spec := restrictedSpec(cluster.Images["kubernaut-execution"])
			spec.RestartPolicy = corev1.RestartPolicyNever
			spec.Containers[0].Name = "check"
			spec.Containers[0].Args = []string{"check", "-f", "/render/render.yaml"}
			spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "render", MountPath: "/render"}}
			spec.Volumes = []corev1.Volume{{Name: "render", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: tc.name}}}}}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "check-" + tc.name}, Spec: spec}
			_, err = cluster.Client.CoreV1().Pods(ns).Create(bg, pod, metav1.CreateOptions{})
			require.NoError(t, err)
			var exit *int32
			require.NoError(t, waitFor(bg, 120*time.Second, func() error {
				p, err := cluster.Client.CoreV1().Pods(ns).Get(bg, pod.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				for _, s := range p.Status.ContainerStatuses {
					if s.State.Terminated != nil {
						exit = ptr.To(s.State.Terminated.ExitCode)
						return nil
					}
				}
				return fmt.Errorf("check pod not finished (%s)", cluster.podsSummary(bg, ns))
			}))
			logs := podLogs(ns, pod.Name, "check")
			require.Equal(t, tc.exit, *exit, logs)
			require.Contains(t, logs, tc.says)
		})
	}
}
