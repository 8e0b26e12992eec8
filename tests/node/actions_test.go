//go:build node

package node

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var bg = context.Background()

// restrictedSpec is a pod spec that passes restricted:latest: the app image (the pause binary) as
// its own user.
func restrictedSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65535),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		TerminationGracePeriodSeconds: ptr.To[int64](1),
	}
}

func appImage(tag string) string { return "kubernaut.local/app:" + tag }

// seedWebConfig creates the ConfigMap patch-configmap runs change: its owner lets runs write LOG_LEVEL.
func seedWebConfig(t testing.TB, ns string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config", Annotations: map[string]string{execution.PatchableKeysAnnotation: "LOG_LEVEL"}},
		Data: map[string]string{"LOG_LEVEL": "info"}}
	_, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(bg, cm, metav1.CreateOptions{})
	require.NoError(t, err)
}

// deploy creates a Deployment of the app image; mutate, when given, adjusts it before it is created
// (an update after creation races with the Deployment controller).
func deploy(t testing.TB, ns, name, image string, replicas int32, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: restrictedSpec(image)}}}
	for _, m := range mutate {
		m(d)
	}
	d, err := cluster.Client.AppsV1().Deployments(ns).Create(bg, d, metav1.CreateOptions{})
	require.NoError(t, err, "deployment %s", name)
	return d
}

// running are the pods of a selector that run on a node, Ready and not being deleted.
func running(ns, selector string) ([]corev1.Pod, error) {
	pods, err := cluster.Client.CoreV1().Pods(ns).List(bg, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// waitPods waits until exactly n pods of the selector run and each passes check.
func waitPods(ns, selector string, n int, check func(corev1.Pod) error) ([]corev1.Pod, error) {
	var pods []corev1.Pod
	err := waitFor(bg, 120*time.Second, func() error {
		var err error
		if pods, err = running(ns, selector); err != nil {
			return err
		}
		all, _ := cluster.Client.CoreV1().Pods(ns).List(bg, metav1.ListOptions{LabelSelector: selector})
		if len(pods) != n || len(all.Items) != n {
			return fmt.Errorf("%d of %d pods of %s running, want %d (%s)", len(pods), len(all.Items), selector, n, cluster.podsSummary(bg, ns))
		}
		for _, p := range pods {
			if check != nil {
				if err := check(p); err != nil {
					return fmt.Errorf("pod %s: %w", p.Name, err)
				}
			}
		}
		return nil
	})
	return pods, err
}

func target(env string, labels map[string]string, extra map[string]any) string {
	if labels == nil {
		labels = map[string]string{} // the gate wants an object, never null
	}
	t := map[string]any{"environment": env, "labels": labels}
	for k, v := range extra {
		t[k] = v
	}
	data, _ := json.Marshal(t)
	return string(data)
}

// scenario seeds workloads for an action, gives its parameters and asserts its effect on them.
type scenario struct {
	params func(t testing.TB, ns string) map[string]string
	effect func(t testing.TB, ns string, r *Result) error
	// fingerprint is what a refused run must leave unchanged.
}

func imageIs(image string) func(corev1.Pod) error {
	return func(p corev1.Pod) error {
		if p.Spec.Containers[0].Image != image {
			return fmt.Errorf("image %s, want %s", p.Spec.Containers[0].Image, image)
		}
		return nil
	}
}

// scenarioTable is each action's scenario: how to seed its target and what effect to expect. The
// parameters come from the catalogue's examples; the seed and the effect are the one part of a new
// action a test layer cannot derive, so a missing one fails naming this file.
var scenarioTable = testenv.Scenarios[scenario]{File: "tests/node/actions_test.go", Table: scenarios}

var scenarios = map[string]scenario{
	"scale-deployment": {
		params: func(t testing.TB, ns string) map[string]string {
			deploy(t, ns, "web", appImage("v1"), 1)
			testenv.Must(waitPods(ns, "app=web", 1, nil)).In(t)
			return map[string]string{"namespace": ns, "deployment": "web", "replicas": "3",
				"target": target("staging", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 1})}
		},
		effect: func(t testing.TB, ns string, _ *Result) error {
			_, err := waitPods(ns, "app=web", 3, nil)
			return err
		},
	},
	"restart-pod": {
		params: func(t testing.TB, ns string) map[string]string {
			deploy(t, ns, "web", appImage("v1"), 1)
			pods := testenv.Must(waitPods(ns, "app=web", 1, nil)).In(t)
			return map[string]string{"namespace": ns, "pod": pods[0].Name,
				"target": target("staging", map[string]string{"app": "web"}, map[string]any{"ownerKind": "ReplicaSet"})}
		},
		effect: func(t testing.TB, ns string, r *Result) error {
			old := r.params["pod"]
			_, err := waitPods(ns, "app=web", 1, func(p corev1.Pod) error {
				if p.Name == old {
					return fmt.Errorf("still the restarted pod")
				}
				if len(p.OwnerReferences) == 0 || p.OwnerReferences[0].Kind != "ReplicaSet" {
					return fmt.Errorf("not a ReplicaSet's pod: %v", p.OwnerReferences)
				}
				return nil
			})
			return err
		},
	},
	"delete-pod": {
		params: func(t testing.TB, ns string) map[string]string {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "doomed", Labels: map[string]string{"app": "doomed"}}, Spec: restrictedSpec(appImage("v1"))}
			_, err := cluster.Client.CoreV1().Pods(ns).Create(bg, pod, metav1.CreateOptions{})
			require.NoError(t, err)
			testenv.Must(waitPods(ns, "app=doomed", 1, nil)).In(t)
			return map[string]string{"namespace": ns, "pod": "doomed", "gracePeriodSeconds": "1", "target": target("staging", map[string]string{"app": "doomed"}, nil)}
		},
		effect: func(t testing.TB, ns string, _ *Result) error {
			return waitFor(bg, 60*time.Second, func() error {
				_, err := cluster.Client.CoreV1().Pods(ns).Get(bg, "doomed", metav1.GetOptions{})
				if isNotFound(err) {
					return nil
				}
				return fmt.Errorf("pod doomed still there (%v)", err)
			})
		},
	},
	"patch-deployment": {
		params: func(t testing.TB, ns string) map[string]string {
			deploy(t, ns, "web", appImage("v1"), 1)
			testenv.Must(waitPods(ns, "app=web", 1, nil)).In(t)
			return map[string]string{"namespace": ns, "deployment": "web",
				"patch":  `{"spec":{"template":{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"64Mi"}}}]}}}}`,
				"target": target("staging", map[string]string{"app": "web"}, nil)}
		},
		effect: func(t testing.TB, ns string, _ *Result) error {
			_, err := waitPods(ns, "app=web", 1, func(p corev1.Pod) error {
				if got := p.Spec.Containers[0].Resources.Limits.Memory().String(); got != "64Mi" {
					return fmt.Errorf("memory limit %s, want 64Mi", got)
				}
				return nil
			})
			return err
		},
	},
	"patch-configmap": {
		params: func(t testing.TB, ns string) map[string]string {
			seedWebConfig(t, ns)
			return map[string]string{"namespace": ns, "configmap": "web-config", "patch": `{"data":{"LOG_LEVEL":"debug"}}`, "target": target("staging", nil, nil)}
		},
		effect: func(t testing.TB, ns string, _ *Result) error {
			cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(bg, "web-config", metav1.GetOptions{})
			if err == nil && cm.Data["LOG_LEVEL"] != "debug" {
				err = fmt.Errorf("LOG_LEVEL %q, want debug", cm.Data["LOG_LEVEL"])
			}
			return err
		},
	},
	"cordon-node": {
		params: func(t testing.TB, ns string) map[string]string {
			n := secondNode(t)
			return map[string]string{"node": n, "target": target("staging", map[string]string{}, nil)}
		},
		effect: func(t testing.TB, ns string, r *Result) error {
			n, err := cluster.Client.CoreV1().Nodes().Get(bg, r.params["node"], metav1.GetOptions{})
			if err == nil && !n.Spec.Unschedulable {
				err = fmt.Errorf("node %s is schedulable", n.Name)
			}
			return err
		},
	},
	"drain-node": {
		params: func(t testing.TB, ns string) map[string]string {
			n := secondNode(t)
			onNode := func(spec corev1.PodSpec) corev1.PodSpec {
				spec.NodeSelector = map[string]string{"kubernetes.io/hostname": n}
				spec.Tolerations = []corev1.Toleration{{Key: drainTaint, Operator: corev1.TolerationOpExists}}
				return spec
			}
			deploy(t, ns, "web", appImage("v1"), 2, func(d *appsv1.Deployment) { d.Spec.Template.Spec = onNode(d.Spec.Template.Spec) })
			labels := map[string]string{"app": "agent"}
			_, err := cluster.Client.AppsV1().DaemonSets(ns).Create(bg, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: onNode(restrictedSpec(appImage("v1")))}}}, metav1.CreateOptions{})
			require.NoError(t, err)
			onSecond := func(p corev1.Pod) error {
				if p.Spec.NodeName != n {
					return fmt.Errorf("on %s", p.Spec.NodeName)
				}
				return nil
			}
			pods := testenv.Must(waitPods(ns, "app=web", 2, onSecond)).In(t)
			testenv.Must(waitPods(ns, "app=agent", 1, onSecond)).In(t)
			drained = map[string]bool{}
			for _, p := range pods {
				drained[string(p.UID)] = true
			}
			return map[string]string{"node": n, "timeoutSeconds": "90", "target": target("staging", map[string]string{}, nil)}
		},
		effect: func(t testing.TB, ns string, r *Result) error {
			// The Deployment's running pods were evicted (their replacements cannot schedule on the
			// cordoned node); the DaemonSet's pod still runs there.
			pods, err := cluster.Client.CoreV1().Pods(ns).List(bg, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil {
				return err
			}
			for _, p := range pods.Items {
				if drained[string(p.UID)] && p.DeletionTimestamp == nil {
					return fmt.Errorf("pod %s was not evicted", p.Name)
				}
				if p.Spec.NodeName == r.params["node"] && p.DeletionTimestamp == nil {
					return fmt.Errorf("pod %s runs on the drained node", p.Name)
				}
			}
			_, err = waitPods(ns, "app=agent", 1, nil)
			return err
		},
	},
	"rollback-deployment": {
		params: func(t testing.TB, ns string) map[string]string {
			d := deploy(t, ns, "api", appImage("v1"), 1)
			testenv.Must(waitPods(ns, "app=api", 1, imageIs(appImage("v1")))).In(t)
			patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, appImage("v2"))
			_, err := cluster.Client.AppsV1().Deployments(ns).Patch(bg, d.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
			require.NoError(t, err)
			testenv.Must(waitPods(ns, "app=api", 1, imageIs(appImage("v2")))).In(t)
			return map[string]string{"namespace": ns, "deployment": "api", "revision": "0", "target": target("staging", map[string]string{"app": "api"}, nil)}
		},
		effect: func(t testing.TB, ns string, _ *Result) error {
			_, err := waitPods(ns, "app=api", 1, imageIs(appImage("v1")))
			return err
		},
	},
	"verify-deployment": {
		params: func(t testing.TB, ns string) map[string]string {
			// Created just before the run: verify has a real rollout to wait for.
			deploy(t, ns, "fresh", appImage("v1"), 2)
			return map[string]string{"namespace": ns, "deployment": "fresh", "timeoutSeconds": "120", "target": target("staging", map[string]string{"app": "fresh"}, nil)}
		},
		effect: func(t testing.TB, ns string, r *Result) error {
			if out := r.Logs(bg, steps.Execute); !strings.Contains(out, `deployment "fresh" successfully rolled out`) {
				return fmt.Errorf("execute step said %q", out)
			}
			_, err := waitPods(ns, "app=fresh", 2, nil)
			return err
		},
	},
	"custom-script": {
		// Two ConfigMaps match app=web: web-config, listed by name without its data, and one its owner
		// opted out of Kubernaut, not listed at all.
		params: func(t testing.TB, ns string) map[string]string {
			for name, extra := range map[string]map[string]string{"web-config": nil, "opted-out": {"kubernaut.ai/managed": "false"}} {
				labels := map[string]string{"app": "web"}
				maps.Copy(labels, extra)
				_, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(bg, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
					Data: map[string]string{"API_TOKEN": "s3cr3t-in-configmap-data"}}, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			// Custom scripts always need approval (the catalogue's approval: true): a person approves an
			// ActionRun of exactly these parameters, which the approval-gate step reads.
			return approvedRequest(t, ns, "list-web-config", "custom-script",
				map[string]string{"namespace": ns, "resource": "configmaps", "selector": "app=web", "target": target("staging", nil, nil)})
		},
		effect: func(t testing.TB, ns string, r *Result) error {
			out := r.Logs(bg, steps.Execute)
			if !strings.Contains(out, "web-config") {
				return fmt.Errorf("execute step did not list ConfigMap web-config: %q", out)
			}
			for _, hidden := range []string{"s3cr3t-in-configmap-data", "opted-out"} {
				if strings.Contains(out, hidden) {
					return fmt.Errorf("execute step shows %q: %q", hidden, out)
				}
			}
			return nil
		},
	},
}

var drained map[string]bool

// Every catalogue action runs as a TaskRun of its Task, under its per-run ServiceAccount, created
// with the controller's token; each step passes and the effect shows on workloads running on the
// node. The timings table is the per-action figure of the closing note.
func TestEveryActionAsTaskRun(t *testing.T) {
	installed(t)
	cat := testenv.Catalogue(t)
	scenarioTable.RequireCurrent(t, cat)
	var rows [][]string
	for _, a := range cat.Actions {
		t.Run(a.Name, func(t *testing.T) {
			s := scenarioTable.For(t, a.Name)
			ns := targetNamespace(t, "act-"+a.Name)
			params := s.params(t, ns)
			r := runTask(t, a, ns, params)
			r.params = params
			if r.Status != "True" {
				// The step logs only when it failed: each is a request of its own.
				require.FailNow(t, "the TaskRun did not succeed", "%s\npolicy gate: %s\nexecute: %s", r, r.Logs(bg, steps.PolicyGate), r.Logs(bg, steps.Execute))
			}
			want := map[string]int32{steps.PolicyGate: 0, steps.ApprovalGate: 0, steps.Execute: 0}
			if a.DryRun.Supported {
				want[steps.DryRun] = 0
			}
			expectSteps(t, r, want)
			require.NoError(t, s.effect(t, ns, r), "effect\n%s", r)
			rows = append(rows, r.timingRow(a.Name))
		})
	}
	printTable(t, []string{"ACTION", "TOTAL", "POD START", "GATES", "DRY-RUN", "EXECUTE", "PROVISION+TEARDOWN"}, rows)

	// Control for the per-run ServiceAccount: the same scale run under a ServiceAccount the controller
	// made but did not bind passes the gates and is refused at its dry-run, so the runs above acted with
	// their run's own token and its binding.
	t.Run("scale-deployment without its binding", func(t *testing.T) {
		ns := targetNamespace(t, "act-unbound")
		deploy(t, ns, "web", appImage("v1"), 1)
		r := runTaskBound(t, defaultRelease, testenv.Action(t, "scale-deployment"), ns, map[string]string{"namespace": ns, "deployment": "web", "replicas": "3",
			"target": target("staging", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 1})}, false)
		expectSteps(t, r, map[string]int32{steps.PolicyGate: 0, steps.ApprovalGate: 0, steps.DryRun: 1})
		assert.Contains(t, r.Logs(bg, steps.DryRun), "forbidden", "dry-run without a binding was not refused by RBAC")
		d, err := cluster.Client.AppsV1().Deployments(ns).Get(bg, "web", metav1.GetOptions{})
		if assert.NoError(t, err) {
			assert.Equal(t, int32(1), ptr.Deref(d.Spec.Replicas, 0), "replicas changed without a binding")
		}
	})

	// Control for verify: a rollout that cannot finish (its image is not on the node and may not be
	// pulled) makes the execute step fail at its timeout, so the passing run above did wait for pods.
	t.Run("verify-deployment of a stuck rollout", func(t *testing.T) {
		ns := targetNamespace(t, "act-verify-stuck")
		deploy(t, ns, "stuck", "kubernaut.local/app:absent", 1, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
		})
		r := runTask(t, testenv.Action(t, "verify-deployment"), ns, map[string]string{"namespace": ns, "deployment": "stuck", "timeoutSeconds": "10",
			"target": target("staging", map[string]string{"app": "stuck"}, nil)})
		require.Equal(t, "False", r.Status, "verify of a stuck rollout did not fail: %s", r)
		execute := r.step(steps.Execute)
		require.True(t, execute.Ran, "verify of a stuck rollout did not fail in its execute step: %s", r)
		require.NotZero(t, execute.ExitCode, "verify of a stuck rollout did not fail in its execute step: %s", r)
	})
}

func printTable(t testing.TB, header []string, rows [][]string) {
	t.Helper()
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			fmt.Fprintf(&b, "%-*s  ", widths[i], c)
		}
		b.WriteString("\n")
	}
	t.Log("\n" + b.String())
}

// timingRow splits the run's wall time: TaskRun created to first step started (pod start: schedule,
// sandbox, Tekton's init containers), the gate steps, dry-run and execute (step times have a
// resolution of one second), and the share of provisioning plus teardown in the whole run.
func (r *Result) timingRow(action string) []string {
	total := r.Completed.Sub(r.Created)
	first := r.step(steps.PolicyGate).Started
	gates := r.step(steps.ApprovalGate).Finished.Sub(first)
	d := func(s Step) string {
		if s.Started.IsZero() {
			return "-"
		}
		return s.Finished.Sub(s.Started).String()
	}
	whole := time.Since(r.provisionStart)
	return []string{action, total.String(), first.Sub(r.Created).String(), gates.String(), d(r.step(steps.DryRun)), d(r.step(steps.Execute)),
		fmt.Sprintf("%s (%.0f%%)", (r.Provision + r.Teardown).Round(time.Millisecond), 100*float64(r.Provision+r.Teardown)/float64(whole))}
}

// The second node: a kubelet with a containerd of its own, tainted so that only the pods of the
// drain and cordon tests go there (cordoning or draining the first node would stop the runs' own
// pods). Started once, on first use.
var (
	secondOnce sync.Once
	secondErr  error
)

const drainTaint = "kubernaut.io/drain-target"

var secondNodeSpec = kubeletNode{Name: "kubernaut-node-2", IP: "198.18.0.2", PodCIDR: "198.18.17.0/24", Bridge: "cni1", Dir: "node2"}

// secondNode starts the second node on first use and uncordons it after the test.
func secondNode(t testing.TB) string {
	t.Helper()
	secondOnce.Do(func() { secondErr = cluster.startSecondNode(bg) })
	require.NoError(t, secondErr, "second node")
	t.Cleanup(func() {
		_, _ = cluster.Client.CoreV1().Nodes().Patch(bg, secondNodeSpec.Name, types.StrategicMergePatchType, []byte(`{"spec":{"unschedulable":null}}`), metav1.PatchOptions{})
	})
	return secondNodeSpec.Name
}

func (c *Cluster) startSecondNode(ctx context.Context) error {
	n := &secondNodeSpec
	if out, err := exec.Command("ip", "addr", "add", n.IP+"/32", "dev", nodeBridge).CombinedOutput(); err != nil {
		return fmt.Errorf("address %s: %w: %s", n.IP, err, out)
	}
	// Created ahead of the kubelet with its pod CIDR (which the range allocator then keeps) and its
	// taint, so that no other pod lands there even for a moment.
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"kubernetes.io/hostname": n.Name, execution.ManagedLabel: "true"}},
		Spec: corev1.NodeSpec{PodCIDR: n.PodCIDR, PodCIDRs: []string{n.PodCIDR}, Taints: []corev1.Taint{{Key: drainTaint, Effect: corev1.TaintEffectNoSchedule}}}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := c.startContainerd(ctx, n); err != nil {
		return err
	}
	return c.startKubelet(ctx, n)
}
