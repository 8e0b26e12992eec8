//go:build node

package node

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
)

// check is one cell of the reachability matrix.
type cell struct {
	source, dest, port string
	spec               string // probe check KIND:HOST:PORT
	want               bool   // allowed under the chart's policies
	got                *bool
	detail             string
}

// probeArgs are a probe's arguments: serve, then wait until the enforcer shows a known cell in the
// expected state (rules follow pod events asynchronously), then check every cell.
func probeArgs(serve string, hold time.Duration, waitFor, waitCheck string, cells []cell) []string {
	args := []string{"-for", hold.String()}
	if serve != "" {
		args = append(args, "-serve", serve)
	}
	if waitFor != "" {
		args = append(args, "-wait-for", waitFor, "-wait-check", waitCheck)
	}
	for i, c := range cells {
		args = append(args, fmt.Sprintf("c%d=%s", i, c.spec))
	}
	return args
}

var probeLine = regexp.MustCompile(`(?m)^PROBE c(\d+) (allowed|blocked)(.*)$`)

// readProbe fills the cells from a probe's output; every cell must have a line.
func readProbe(out string, cells []cell) error {
	return readProbeWait(out, cells, true)
}

// readProbeWait is readProbe; with strict false, a wait that timed out is a result (the cell stays
// as it was), not an error.
func readProbeWait(out string, cells []cell, strict bool) error {
	if strict && strings.Contains(out, "WAIT TIMEOUT") {
		return fmt.Errorf("the enforcer never reached the expected state: %s", out)
	}
	for _, m := range probeLine.FindAllStringSubmatch(out, -1) {
		var i int
		fmt.Sscan(m[1], &i)
		if i < len(cells) {
			cells[i].got = ptr.To(m[2] == "allowed")
			cells[i].detail = strings.TrimSpace(m[3])
		}
	}
	for _, c := range cells {
		if c.got == nil {
			return fmt.Errorf("no result for %s -> %s in:\n%s", c.source, c.dest, out)
		}
	}
	return nil
}

// podLogs are a container's logs.
func podLogs(ns, pod, container string) string {
	data, err := cluster.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(bg)
	if err != nil {
		return ""
	}
	return string(data)
}

// probePod runs the probe in a plain pod and returns it once its checks are done.
func probePod(t testing.TB, ns, name string, podLabels map[string]string, args []string) *corev1.Pod {
	t.Helper()
	spec := restrictedSpec(cluster.Images["probe"])
	spec.Containers[0].Name = "probe"
	spec.Containers[0].Args = args
	spec.RestartPolicy = corev1.RestartPolicyNever
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: podLabels}, Spec: spec}
	_, err := cluster.Client.CoreV1().Pods(ns).Create(bg, pod, metav1.CreateOptions{})
	require.NoError(t, err, "probe pod %s/%s", ns, name)
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	return waitProbeDone(t, ns, name, "probe")
}

func waitProbeDone(t testing.TB, ns, name, container string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	require.NoError(t, waitFor(bg, 180*time.Second, func() error {
		var err error
		if pod, err = cluster.Client.CoreV1().Pods(ns).Get(bg, name, metav1.GetOptions{}); err != nil {
			return err
		}
		if pod.Status.PodIP == "" || !strings.Contains(podLogs(ns, name, container), "PROBES DONE") {
			return fmt.Errorf("probe %s/%s not done (%s)", ns, name, cluster.podsSummary(bg, ns))
		}
		return nil
	}))
	return pod
}

// server runs a probe that only serves :8080, and returns its pod IP.
func server(t testing.TB, ns, name string, podLabels map[string]string) string {
	t.Helper()
	return probePod(t, ns, name, podLabels, []string{"-serve", ":8080", "-for", "1h"}).Status.PodIP
}

// actionProbe runs the probe as a TaskRun pod carrying the labels the chart's Tasks carry (Tekton
// copies a Task's labels onto its pods), which is what the action-pod NetworkPolicy selects.
func actionProbe(t testing.TB, name string, taskLabels map[string]string, args []string) *corev1.Pod {
	t.Helper()
	lbl := map[string]any{}
	for k, v := range taskLabels {
		lbl[k] = v
	}
	restricted := map[string]any{"allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": int64(65532),
		"capabilities": map[string]any{"drop": []any{"ALL"}}, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	task := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "Task",
		"metadata": map[string]any{"name": name, "namespace": releaseNS, "labels": lbl},
		"spec": map[string]any{
			"params":       []any{map[string]any{"name": "args", "type": "array"}},
			"stepTemplate": map[string]any{"securityContext": restricted},
			"steps": []any{map[string]any{"name": "probe", "image": cluster.Images["probe"], "imagePullPolicy": "IfNotPresent",
				"command": []any{"/probe"}, "args": []any{"$(params.args[*])"}}},
		}}}
	tasks := cluster.Dynamic.Resource(tektonGVR("tasks")).Namespace(releaseNS)
	_, err := tasks.Create(bg, task, metav1.CreateOptions{})
	require.NoError(t, err)
	anyArgs := make([]any, len(args))
	for i, a := range args {
		anyArgs[i] = a
	}
	tr := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": name, "namespace": releaseNS},
		"spec":     map[string]any{"taskRef": map[string]any{"name": name}, "params": []any{map[string]any{"name": "args", "value": anyArgs}}}}}
	runs := cluster.Dynamic.Resource(tektonGVR("taskruns")).Namespace(releaseNS)
	_, err = runs.Create(bg, tr, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = runs.Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = tasks.Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	var pod string
	require.NoError(t, waitFor(bg, 120*time.Second, func() error {
		got, err := runs.Get(bg, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod, _, _ = unstructured.NestedString(got.Object, "status", "podName"); pod == "" {
			s, r, m := succeeded(got)
			return fmt.Errorf("no pod yet: %s %s %s", s, r, m)
		}
		return nil
	}))
	return waitProbeDone(t, releaseNS, pod, "step-probe")
}

// matrix runs every cell: egress from an action pod (a TaskRun pod) and from a pod with the
// controller's labels, and ingress into both from other pods. waitFor/waitCheck is the control cell
// each source polls before checking. Labels of the sources are given, so that the seed's policies can
// be shown on the pods they select.
func matrix(t testing.TB, run, waitFor string, actionLabels, controllerLabels map[string]string) []cell {
	t.Helper()
	ips := matrixServers(t)
	waitCheck := "tcp:" + nodeIP + ":10250"
	egress := func(source string, extra ...cell) []cell {
		cells := []cell{
			{source: source, dest: "API server (Service IP)", port: "443/TCP", spec: "tcp:" + apiServiceIP + ":443", want: true},
			{source: source, dest: "API server (endpoint)", port: "6443/TCP", spec: "tcp:" + nodeIP + ":6443", want: true},
			{source: source, dest: "CoreDNS (kube-dns Service)", port: "53/UDP", spec: "udpdns:" + dnsServiceIP + ":53", want: true},
			{source: source, dest: "CoreDNS (kube-dns Service)", port: "53/TCP", spec: "tcpdns:" + dnsServiceIP + ":53", want: true},
			{source: source, dest: "HTTP server, other namespace", port: "8080/TCP", spec: "tcp:" + ips["other"] + ":8080"},
			{source: source, dest: "HTTP server, release namespace", port: "8080/TCP", spec: "tcp:" + ips["release"] + ":8080"},
			{source: source, dest: "node, kubelet port", port: "10250/TCP", spec: waitCheck},
		}
		return append(cells, extra...)
	}
	actionCells := egress("action pod (TaskRun)")
	ap := actionProbe(t, "probe-"+run, actionLabels, probeArgs(":8080", 60*time.Second, waitFor, waitCheck, actionCells))
	require.NoError(t, readProbe(podLogs(releaseNS, ap.Name, "step-probe"), actionCells))
	controllerCells := egress("controller pod",
		cell{source: "controller pod", dest: "data-storage pod", port: "8080/TCP", spec: "tcp:" + ips["data-storage"] + ":8080", want: true})
	cp := probePod(t, releaseNS, "controller-"+run, controllerLabels, probeArgs(":9090", 60*time.Second, waitFor, waitCheck, controllerCells))
	require.NoError(t, readProbe(podLogs(releaseNS, cp.Name, "probe"), controllerCells))
	// Ingress, checked from client pods while the sources still serve. The enforcer adds a new client's
	// IP to the sets of the peers it matches after the pod starts, so a client whose cell should be
	// allowed polls it (bounded) before reporting; a client of a blocked cell reports at once, and
	// lagging sets can only make it look blocked for a moment, never allowed.
	ingress := func(ns, name string, lbl map[string]string, c cell) cell {
		cells := []cell{c}
		waitFor, waitCheck := "", ""
		if c.want {
			waitFor, waitCheck = "allowed", c.spec
		}
		p := probePod(t, ns, name+"-"+run, lbl, append([]string{"-wait-timeout", "30s"}, probeArgs("", 0, waitFor, waitCheck, cells)...))
		require.NoError(t, readProbeWait(podLogs(ns, p.Name, "probe"), cells, false))
		return cells[0]
	}
	prometheus := map[string]string{"app.kubernetes.io/name": "prometheus"}
	cells := append(actionCells, controllerCells...)
	cells = append(cells,
		ingress("np-other", "to-action", nil, cell{source: "pod, other namespace", dest: "action pod", port: "8080/TCP", spec: "tcp:" + ap.Status.PodIP + ":8080"}),
		ingress("np-other", "to-controller", nil, cell{source: "pod, other namespace", dest: "controller pod metrics", port: "9090/TCP", spec: "tcp:" + cp.Status.PodIP + ":9090"}),
		ingress("monitoring", "prometheus", prometheus, cell{source: "prometheus pod, monitoring", dest: "controller pod metrics", port: "9090/TCP", spec: "tcp:" + cp.Status.PodIP + ":9090", want: true}),
	)
	return cells
}

var matrixServerIPs map[string]string

// matrixServers starts the destinations once: HTTP servers in another namespace and in the release
// namespace, a data-storage pod, and the namespaces the clients run in.
func matrixServers(t testing.TB) map[string]string {
	t.Helper()
	if matrixServerIPs != nil {
		return matrixServerIPs
	}
	for _, ns := range []string{"np-other", "monitoring"} {
		_, err := cluster.Client.CoreV1().Namespaces().Create(bg, namespaceObject(ns, nil), metav1.CreateOptions{})
		require.NoError(t, err)
		require.NoError(t, waitFor(bg, 30*time.Second, func() error {
			_, err := cluster.Client.CoreV1().ServiceAccounts(ns).Get(bg, "default", metav1.GetOptions{})
			return err
		}))
	}
	matrixServerIPs = map[string]string{
		"other":        server(t, "np-other", "web", map[string]string{"app": "web"}),
		"release":      server(t, releaseNS, "release-web", map[string]string{"app": "release-web"}),
		"data-storage": server(t, releaseNS, "data-storage", map[string]string{"app.kubernetes.io/name": "data-storage"}),
	}
	return matrixServerIPs
}

func printMatrix(t testing.TB, title string, cells []cell, showWant bool) {
	t.Helper()
	var rows [][]string
	for _, c := range cells {
		got := map[bool]string{true: "allowed", false: "blocked"}[*c.got]
		row := []string{c.source, c.dest, c.port, got}
		if showWant {
			row = append(row, map[bool]string{true: "allowed", false: "blocked"}[c.want])
		}
		rows = append(rows, row)
	}
	header := []string{"SOURCE", "DESTINATION", "PORT", "GOT"}
	if showWant {
		header = append(header, "CHART SAYS")
	}
	t.Log(title)
	printTable(t, header, rows)
}

// chartLabels are the pod labels the chart's policies select: the action Task's (copied onto TaskRun
// pods) and the controller Deployment's selector.
func chartLabels(t testing.TB) (action, controller map[string]string) {
	t.Helper()
	task, err := cluster.Dynamic.Resource(tektonGVR("tasks")).Namespace(releaseNS).Get(bg, "kubernaut-scale-deployment", metav1.GetOptions{})
	require.NoError(t, err)
	d, err := cluster.Client.AppsV1().Deployments(releaseNS).Get(bg, release+"-controller", metav1.GetOptions{})
	require.NoError(t, err)
	return task.GetLabels(), d.Spec.Selector.MatchLabels
}

// NetworkPolicy reachability, enforced by kube-router on the node: the chart's policies leave action
// pods the API server and DNS only, and the controller the API server, DNS, data storage and metrics
// ingress from the monitoring pods. Removing the policies opens every blocked cell (so the matrix can
// fail); the seed document's two policies, applied as written, cut the pods they select off from the
// API server and DNS, which is why the design uses ipBlocks.
func TestNetworkPolicyMatrix(t *testing.T) {
	installed(t)
	actionLabels, controllerLabels := chartLabels(t)
	policies, err := cluster.Client.NetworkingV1().NetworkPolicies(releaseNS).List(bg, metav1.ListOptions{})
	require.NoError(t, err)
	// The sources are the pods the chart's policies select (else the matrix shows nothing).
	for _, np := range policies.Items {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		require.NoError(t, err)
		// The helm test's own policy (a test hook, kept after `helm test`) selects only its pods.
		if np.Annotations["helm.sh/hook"] == "test" {
			continue
		}
		require.True(t, sel.Matches(labels.Set(actionLabels)) || sel.Matches(labels.Set(controllerLabels)), "NetworkPolicy %s selects neither source", np.Name)
	}

	cells := matrix(t, "chart", "blocked", actionLabels, controllerLabels)
	printMatrix(t, "With the chart's NetworkPolicies:", cells, true)
	for _, c := range cells {
		assert.Equal(t, c.want, *c.got, "%s -> %s %s allowed, as the chart says (%s)", c.source, c.dest, c.port, c.detail)
	}

	// Control: without the chart's policies every cell is open.
	for _, np := range policies.Items {
		require.NoError(t, cluster.Client.NetworkingV1().NetworkPolicies(releaseNS).Delete(bg, np.Name, metav1.DeleteOptions{}))
	}
	t.Cleanup(func() {
		for _, np := range policies.Items {
			np := np
			np.ResourceVersion, np.UID, np.CreationTimestamp, np.ManagedFields = "", "", metav1.Time{}, nil
			_, _ = cluster.Client.NetworkingV1().NetworkPolicies(releaseNS).Create(context.Background(), &np, metav1.CreateOptions{})
		}
	})
	open := matrix(t, "open", "allowed", actionLabels, controllerLabels)
	printMatrix(t, "Without any NetworkPolicy (control):", open, false)
	for _, c := range open {
		assert.True(t, *c.got, "without policies, %s -> %s %s is blocked (%s): the matrix measures something else", c.source, c.dest, c.port, c.detail)
	}

	// The seed document's policies, as written, on pods carrying the labels they select.
	seed := seedPolicies(t)
	for _, np := range seed {
		_, err := cluster.Client.NetworkingV1().NetworkPolicies(releaseNS).Create(bg, np, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		for _, np := range seed {
			_ = cluster.Client.NetworkingV1().NetworkPolicies(releaseNS).Delete(context.Background(), np.Name, metav1.DeleteOptions{})
		}
	})
	seeded := matrix(t, "seed", "blocked", map[string]string{"app": "kubernetesexecution-job"}, map[string]string{"app": "kubernetesexecution-controller"})
	printMatrix(t, "With the seed document's two NetworkPolicies, as written:", seeded, false)
	for _, c := range seeded {
		if strings.HasPrefix(c.dest, "API server") {
			assert.False(t, *c.got, "seed policies: %s -> %s %s allowed; the seed's namespaceSelector should match nothing", c.source, c.dest, c.port)
		}
	}
}

// seedPolicies are the two NetworkPolicies of the seed document (../shared/seeds), as written: their
// namespaceSelector `name: kube-system` is a label no namespace carries.
func seedPolicies(t testing.TB) []*networkingv1.NetworkPolicy {
	t.Helper()
	docs, err := manifest.Read("seed", strings.NewReader(seedNetworkPolicies))
	require.NoError(t, err)
	var out []*networkingv1.NetworkPolicy
	for _, d := range docs {
		var np networkingv1.NetworkPolicy
		require.NoError(t, yamlUnmarshal(d.YAML, &np))
		out = append(out, &np)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
