//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// env is where one action runs: its target namespace and node.
type env struct{ NS, Node string }

// scenario seeds what an action touches, gives its parameters, a fingerprint of what a dry-run must
// not change, and asserts the real run's effect.
type scenario struct {
	seed        func(t *testing.T, e env)
	params      func(e env) map[string]string
	fingerprint func(t *testing.T, e env) string
	effect      func(e env, output string) error
}

var ctx = context.Background()

func labels(app string) map[string]string { return map[string]string{"app": app} }

func podSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}, TerminationGracePeriodSeconds: ptr.To[int64](0)}
}

func deployment(name, image string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels(name)},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(name)}, Spec: podSpec(image)}}}
}

func seedPod(t *testing.T, ns, name, node string, owner *metav1.OwnerReference) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels("web")}, Spec: podSpec("registry.k8s.io/pause:3.10")}
	pod.Spec.NodeName = node
	pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if owner != nil {
		pod.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	testenv.Must(cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})).In(t)
}

func seedNode(t *testing.T, name string) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{execution.ManagedLabel: "true"}}}
	testenv.Must(cluster.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})).In(t)
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func controllerOf(kind, name string, uid string) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr.To(true)}
}

func rv(t *testing.T, get func() (metav1.Object, error)) string {
	o, err := get()
	require.NoError(t, err)
	return o.GetResourceVersion()
}

// gone is nil when err says the object no longer exists.
func gone(what string, err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("%s is still there (%v)", what, err)
}

// want compares an effect with what it should be.
func want[T comparable](what string, got, expected T, err error) error {
	if err != nil {
		return err
	}
	if got != expected {
		return fmt.Errorf("%s is %v, want %v", what, got, expected)
	}
	return nil
}

func unschedulable(node string) error {
	n, err := cluster.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	return want("node "+node+" unschedulable", n.Spec.Unschedulable, true, err)
}

func says(output, text string) error {
	if !strings.Contains(output, text) {
		return fmt.Errorf("output lacks %q", text)
	}
	return nil
}

// scenarioTable is each action's scenario: how to seed its target and what effect to expect. The
// parameters come from the catalogue's examples; the seed and the effect are the one part of a new
// action a test layer cannot derive, so a missing one fails naming this file.
var scenarioTable = testenv.Scenarios[scenario]{File: "tests/e2e/actions_test.go", Table: scenarios}

var scenarios = map[string]scenario{
	"restart-pod": {
		seed:   func(t *testing.T, e env) { seedPod(t, e.NS, "web", "", nil) },
		params: func(e env) map[string]string { return map[string]string{"namespace": e.NS, "pod": "web"} },
		fingerprint: func(t *testing.T, e env) string {
			return rv(t, func() (metav1.Object, error) {
				return cluster.Client.CoreV1().Pods(e.NS).Get(ctx, "web", metav1.GetOptions{})
			})
		},
		effect: func(e env, _ string) error {
			_, err := cluster.Client.CoreV1().Pods(e.NS).Get(ctx, "web", metav1.GetOptions{})
			return gone("pod web", err)
		},
	},
	"delete-pod": {
		seed: func(t *testing.T, e env) { seedPod(t, e.NS, "doomed", "", nil) },
		params: func(e env) map[string]string {
			return map[string]string{"namespace": e.NS, "pod": "doomed", "gracePeriodSeconds": "30"}
		},
		fingerprint: func(t *testing.T, e env) string {
			return rv(t, func() (metav1.Object, error) {
				return cluster.Client.CoreV1().Pods(e.NS).Get(ctx, "doomed", metav1.GetOptions{})
			})
		},
		effect: func(e env, _ string) error {
			_, err := cluster.Client.CoreV1().Pods(e.NS).Get(ctx, "doomed", metav1.GetOptions{})
			return gone("pod doomed", err)
		},
	},
	"scale-deployment": {
		seed: func(t *testing.T, e env) {
			testenv.Must(cluster.Client.AppsV1().Deployments(e.NS).Create(ctx, deployment("web", "nginx:1.27", 2), metav1.CreateOptions{})).In(t)
		},
		params: func(e env) map[string]string {
			return map[string]string{"namespace": e.NS, "deployment": "web", "replicas": "3"}
		},
		fingerprint: func(t *testing.T, e env) string {
			return rv(t, func() (metav1.Object, error) {
				return cluster.Client.AppsV1().Deployments(e.NS).Get(ctx, "web", metav1.GetOptions{})
			})
		},
		effect: func(e env, _ string) error {
			d, err := cluster.Client.AppsV1().Deployments(e.NS).Get(ctx, "web", metav1.GetOptions{})
			return want("replicas", ptr.Deref(d.Spec.Replicas, 0), 3, err)
		},
	},
	"patch-deployment": {
		seed: func(t *testing.T, e env) {
			testenv.Must(cluster.Client.AppsV1().Deployments(e.NS).Create(ctx, deployment("web", "nginx:1.27", 1), metav1.CreateOptions{})).In(t)
		},
		params: func(e env) map[string]string {
			return map[string]string{"namespace": e.NS, "deployment": "web", "patch": `{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"limits":{"memory":"256Mi"}}}]}}}}`}
		},
		fingerprint: func(t *testing.T, e env) string {
			return rv(t, func() (metav1.Object, error) {
				return cluster.Client.AppsV1().Deployments(e.NS).Get(ctx, "web", metav1.GetOptions{})
			})
		},
		effect: func(e env, _ string) error {
			d, err := cluster.Client.AppsV1().Deployments(e.NS).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			return want("memory limit", d.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(), "256Mi", nil)
		},
	},
	"patch-configmap": {
		seed: func(t *testing.T, e env) {
			testenv.Must(cluster.Client.CoreV1().ConfigMaps(e.NS).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config",
				Annotations: map[string]string{execution.PatchableKeysAnnotation: "LOG_LEVEL"}}, Data: map[string]string{"LOG_LEVEL": "info"}}, metav1.CreateOptions{})).In(t)
		},
		params: func(e env) map[string]string {
			return map[string]string{"namespace": e.NS, "configmap": "web-config", "patch": `{"data":{"LOG_LEVEL":"debug"}}`}
		},
		fingerprint: func(t *testing.T, e env) string {
			return rv(t, func() (metav1.Object, error) {
				return cluster.Client.CoreV1().ConfigMaps(e.NS).Get(ctx, "web-config", metav1.GetOptions{})
			})
		},
		effect: func(e env, _ string) error {
			cm, err := cluster.Client.CoreV1().ConfigMaps(e.NS).Get(ctx, "web-config", metav1.GetOptions{})
			if err != nil {
				return err
			}
			return want("LOG_LEVEL", cm.Data["LOG_LEVEL"], "debug", nil)
		},
	},
	"cordon-node": {
		seed:   func(t *testing.T, e env) { seedNode(t, e.Node) },
		params: func(e env) map[string]string { return map[string]string{"node": e.Node} },
		fingerprint: func(t *testing.T, e env) string {
			return rv(t, func() (metav1.Object, error) {
				return cluster.Client.CoreV1().Nodes().Get(ctx, e.Node, metav1.GetOptions{})
			})
		},
		effect: func(e env, _ string) error { return unschedulable(e.Node) },
	},
	"drain-node": {
		seed: func(t *testing.T, e env) {
			seedNode(t, e.Node)
			ds := testenv.Must(cluster.Client.AppsV1().DaemonSets(e.NS).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
				Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels("agent")},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("agent")}, Spec: podSpec("registry.k8s.io/pause:3.10")}}}, metav1.CreateOptions{})).In(t)
			rs := testenv.Must(cluster.Client.AppsV1().ReplicaSets(e.NS).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels("web")},
					Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("web")}, Spec: podSpec("nginx:1.27")}}}, metav1.CreateOptions{})).In(t)
			seedPod(t, e.NS, "agent-x", e.Node, controllerOf("DaemonSet", "agent", string(ds.UID)))
			seedPod(t, e.NS, "web-x", e.Node, controllerOf("ReplicaSet", "web", string(rs.UID)))
		},
		params: func(e env) map[string]string { return map[string]string{"node": e.Node, "timeoutSeconds": "30"} },
		fingerprint: func(t *testing.T, e env) string {
			node := rv(t, func() (metav1.Object, error) {
				return cluster.Client.CoreV1().Nodes().Get(ctx, e.Node, metav1.GetOptions{})
			})
			pod := rv(t, func() (metav1.Object, error) {
				return cluster.Client.CoreV1().Pods(e.NS).Get(ctx, "web-x", metav1.GetOptions{})
			})
			return node + "/" + pod
		},
		effect: func(e env, _ string) error {
			if err := unschedulable(e.Node); err != nil {
				return err
			}
			if _, err := cluster.Client.CoreV1().Pods(e.NS).Get(ctx, "web-x", metav1.GetOptions{}); gone("evicted pod web-x", err) != nil {
				return gone("evicted pod web-x", err)
			}
			_, err := cluster.Client.CoreV1().Pods(e.NS).Get(ctx, "agent-x", metav1.GetOptions{})
			return err // the DaemonSet's pod stays
		},
	},
	"rollback-deployment": {
		seed: func(t *testing.T, e env) {
			d := deployment("api", "api:v2", 1)
			d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "2"}
			d = testenv.Must(cluster.Client.AppsV1().Deployments(e.NS).Create(ctx, d, metav1.CreateOptions{})).In(t)
			for rev, image := range map[string]string{"1": "api:v1", "2": "api:v2"} {
				tpl := *d.Spec.Template.DeepCopy()
				tpl.Labels = map[string]string{"app": "api", "pod-template-hash": "h" + rev}
				tpl.Spec.Containers[0].Image = image
				testenv.Must(cluster.Client.AppsV1().ReplicaSets(e.NS).Create(ctx, &appsv1.ReplicaSet{
					ObjectMeta: metav1.ObjectMeta{Name: "api-h" + rev, Labels: tpl.Labels, Annotations: map[string]string{"deployment.kubernetes.io/revision": rev},
						OwnerReferences: []metav1.OwnerReference{*controllerOf("Deployment", "api", string(d.UID))}},
					Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: tpl.Labels}, Template: tpl},
				}, metav1.CreateOptions{})).In(t)
			}
		},
		params: func(e env) map[string]string {
			return map[string]string{"namespace": e.NS, "deployment": "api", "revision": "0"}
		},
		fingerprint: func(t *testing.T, e env) string {
			return rv(t, func() (metav1.Object, error) {
				return cluster.Client.AppsV1().Deployments(e.NS).Get(ctx, "api", metav1.GetOptions{})
			})
		},
		effect: func(e env, _ string) error {
			d, err := cluster.Client.AppsV1().Deployments(e.NS).Get(ctx, "api", metav1.GetOptions{})
			if err != nil {
				return err
			}
			return want("image", d.Spec.Template.Spec.Containers[0].Image, "api:v1", nil)
		},
	},
	"verify-deployment": {
		seed: func(t *testing.T, e env) {
			d := testenv.Must(cluster.Client.AppsV1().Deployments(e.NS).Create(ctx, deployment("ready", "nginx:1.27", 1), metav1.CreateOptions{})).In(t)
			// No deployment controller runs here: the status a finished rollout has is set by hand.
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
			testenv.Must(cluster.Client.AppsV1().Deployments(e.NS).UpdateStatus(ctx, d, metav1.UpdateOptions{})).In(t)
		},
		params: func(e env) map[string]string {
			return map[string]string{"namespace": e.NS, "deployment": "ready", "timeoutSeconds": "20"}
		},
		effect: func(_ env, output string) error { return says(output, `deployment "ready" successfully rolled out`) },
	},
	"custom-script": {
		seed: seedConfigMaps,
		params: func(e env) map[string]string {
			return map[string]string{"namespace": e.NS, "resource": "configmaps", "selector": "app=web"}
		},
		effect: func(_ env, output string) error { return listsNamesOnly(output) },
	},
}

// custom-script reads ConfigMaps labelled app=web: web-config, whose data must not reach the output,
// and opted-out, whose owner opted it out of Kubernaut.
const (
	scriptData     = "s3cr3t-in-configmap-data"
	scriptOptedOut = "opted-out"
	managedLabel   = "kubernaut.ai/managed"
)

func seedConfigMaps(t *testing.T, e env) {
	for name, extra := range map[string]map[string]string{"web-config": nil, scriptOptedOut: {managedLabel: "false"}} {
		l := labels("web")
		maps.Copy(l, extra)
		testenv.Must(cluster.Client.CoreV1().ConfigMaps(e.NS).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
			Data: map[string]string{"API_TOKEN": scriptData}}, metav1.CreateOptions{})).In(t)
	}
}

// listsNamesOnly: the opted-in ConfigMap is listed by name, the opted-out one not at all, and no data.
func listsNamesOnly(output string) error {
	if err := says(output, "web-config"); err != nil {
		return err
	}
	for _, hidden := range []string{scriptData, scriptOptedOut} {
		if strings.Contains(output, hidden) {
			return fmt.Errorf("output shows %q:\n%s", hidden, output)
		}
	}
	return nil
}

func envFor(t *testing.T, name string) env {
	e := env{NS: namespace(t, name, nil), Node: name}
	// Pods need their namespace's default ServiceAccount, which the controller manager creates.
	require.NoError(t, waitFor(ctx, 30*time.Second, func() error {
		_, err := cluster.Client.CoreV1().ServiceAccounts(e.NS).Get(ctx, "default", metav1.GetOptions{})
		return err
	}))
	return e
}

// argvOf is a's kubectl argv with every $(params.<name>) replaced by its value, element by element:
// a scenario that leaves out a parameter the command uses is an error, not an empty argument.
func argvOf(a catalogue.Action, values map[string]string) ([]string, error) {
	out := make([]string, len(a.Command))
	var missing []string
	for i, arg := range a.Command {
		out[i] = catalogue.Substitute(arg, func(name string) string {
			v, ok := values[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("action %s: no value for parameter(s) %s", a.Name, strings.Join(missing, ", "))
	}
	return out, nil
}

// run executes an action's catalogue command with a token: the dry-run first where the catalogue has
// one (it must succeed and change nothing), then the real run.
func runAction(t *testing.T, a catalogue.Action, s scenario, e env, token string, dryRun bool) (string, error) {
	argv, err := argvOf(a, s.params(e))
	require.NoError(t, err)
	require.Equal(t, "kubectl", argv[0])
	home := t.TempDir()
	runCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if dryRun {
		before := s.fingerprint(t, e)
		if out, err := cluster.Kubectl(runCtx, home, token, append(argv[1:], "--dry-run=server")...); err != nil {
			return out, fmt.Errorf("dry-run: %w", err)
		}
		require.Equal(t, before, s.fingerprint(t, e), "%s: the dry-run changed something", a.Name)
	}
	return cluster.Kubectl(runCtx, home, token, argv[1:]...)
}

// Every action's catalogue command runs for real as its per-run ServiceAccount, bound by the
// controller: the dry-run succeeds and changes nothing, the real run has its effect.
func TestEveryActionRunsForReal(t *testing.T) {
	installed(t)
	controller := controllerClient(t)
	cat := testenv.Catalogue(t)
	scenarioTable.RequireCurrent(t, cat)
	tb := &table{t: t}
	for _, a := range cat.Actions {
		t.Run(a.Name, func(t *testing.T) {
			s := scenarioTable.For(t, a.Name)
			e := envFor(t, "run-"+a.Name)
			s.seed(t, e)
			r, err := provision(ctx, controller, a, a.Name, e.NS)
			require.NoError(t, err)
			defer func() { require.NoError(t, r.remove(ctx, controller)) }()
			awaitAuthorized(t, releaseNS, r.ServiceAccount, a.PolicyRules(), r.bindingNamespace())
			token, err := cluster.Token(ctx, releaseNS, r.ServiceAccount)
			require.NoError(t, err)
			out, err := runAction(t, a, s, e, token, a.DryRun.Supported)
			require.NoError(t, err)
			require.NoError(t, s.effect(e, out))
			tb.add(a.Name, map[bool]string{true: "dry-run, then run", false: "run (read-only)"}[a.DryRun.Supported], strings.TrimSpace(strings.Split(out, "\n")[0]))
		})
	}
	tb.print("ACTION", "STEPS", "KUBECTL SAID")
}

// Controls for custom-script's checks: the identity that runs it reads the ConfigMap's data (the same
// list as YAML shows it), so only the command's columns keep the data out; and the opted-out ConfigMap
// is left out by its label alone: once the label is removed, the same command lists it.
func TestCustomScriptControls(t *testing.T) {
	a := testenv.Action(t, "custom-script")
	s := scenarioTable.For(t, a.Name)
	e := envFor(t, "custom-script-controls")
	s.seed(t, e)
	token := bindRules(t, "custom-script-controls", e.NS, a.Scope, a.PolicyRules())
	out, err := runAction(t, a, s, e, token, false)
	require.NoError(t, err)
	require.NoError(t, s.effect(e, out))

	yaml, err := cluster.Kubectl(ctx, t.TempDir(), token, "get", "configmaps", "--namespace="+e.NS, "--selector=app=web", "--output=yaml")
	require.NoError(t, err)
	require.Contains(t, yaml, scriptData, "the run's identity can read the data")
	require.Error(t, s.effect(e, yaml), "the effect check catches data in the output")

	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, managedLabel)
	testenv.Must(cluster.Client.CoreV1().ConfigMaps(e.NS).Patch(ctx, scriptOptedOut, types.MergePatchType, []byte(patch), metav1.PatchOptions{})).In(t)
	out, err = runAction(t, a, s, e, token, false)
	require.NoError(t, err)
	require.Contains(t, out, scriptOptedOut, "without its label, the opted-out ConfigMap is listed")
}

// without returns rules with one verb of one rule removed (and the rule dropped if it had only that).
func without(rules []rbacv1.PolicyRule, i int, verb string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for j, r := range rules {
		r = *r.DeepCopy()
		if j == i {
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == verb })
			if len(r.Verbs) == 0 {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// Minimality: for each verb of each action's rules, the real command run without that one verb fails
// or does not have its effect (kubectl cordon prints "forbidden" and still exits 0). A verb the command
// does without must say in the catalogue (otherPaths) why it is needed on a path not taken here.
func TestEveryVerbIsNeeded(t *testing.T) {
	if os.Getenv("KUBERNAUT_E2E_SHORT") != "" {
		t.Skip("KUBERNAUT_E2E_SHORT set")
	}
	cat := testenv.Catalogue(t)
	tb := &table{t: t}
	var unneeded []string
	for _, a := range cat.Actions {
		rules := a.PolicyRules()
		for i, rule := range rules {
			for _, verb := range rule.Verbs {
				name := fmt.Sprintf("min-%s-%d-%s", a.Name, i, verb)
				t.Run(name, func(t *testing.T) {
					s := scenarioTable.For(t, a.Name)
					e := envFor(t, name)
					s.seed(t, e)
					token := bindRules(t, name, e.NS, a.Scope, without(rules, i, verb))
					out, err := runAction(t, a, s, e, token, false)
					// Needed means the server refused the removed verb (its Forbidden names that verb on
					// one of the rule's resources), or the command ran without its effect. Any other
					// failure (a timeout, a broken seed, another verb refused) proves nothing: it fails
					// the test.
					var needed bool
					switch {
					case err == nil:
						needed = s.effect(e, out) != nil
					case refused(out+err.Error(), verb, rule.Resources):
						needed = true
					default:
						t.Fatalf("failed for a reason other than the missing verb %s: %v\n%s", verb, err, out)
					}
					what := fmt.Sprintf("%s %s/%s", verb, strings.Join(rule.APIGroups, ","), strings.Join(rule.Resources, ","))
					why := otherPath(a, i, verb)
					verdict := map[bool]string{true: "needed", false: "not needed here"}[needed]
					if !needed && why != "" {
						verdict += ": " + why
					}
					tb.add(a.Name, what, verdict, firstLine(out))
					if !needed && why == "" {
						unneeded = append(unneeded, a.Name+": "+what)
					}
				})
			}
		}
	}
	tb.print("ACTION", "VERB", "WITHOUT IT", "KUBECTL SAID")
	require.Empty(t, unneeded, "verbs the commands ran without and the catalogue gives no other path for")
}

// refused reports whether output carries the API server's Forbidden for verb on one of resources:
// `... is forbidden: User "..." cannot <verb> resource "<resource>" ...` (subresources as
// resource/subresource).
func refused(output, verb string, resources []string) bool {
	for _, r := range resources {
		if strings.Contains(output, fmt.Sprintf("cannot %s resource %q", verb, r)) {
			return true
		}
	}
	return false
}

// otherPath is the catalogue's reason a verb of rule i is needed on a path this test does not take.
func otherPath(a catalogue.Action, i int, verb string) string {
	return a.Rules[i].OtherPaths[verb]
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(line) > 100 {
		line = line[:100] + "..."
	}
	return line
}

// bindRules makes a ClusterRole with rules, binds it to a fresh ServiceAccount (in ns, or cluster-wide
// for Cluster actions) as an administrator, and returns the ServiceAccount's token.
func bindRules(t *testing.T, name, ns string, scope catalogue.Scope, rules []rbacv1.PolicyRule) string {
	t.Helper()
	rbac := cluster.Client.RbacV1()
	testenv.Must(rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{})).In(t)
	t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	testenv.Must(cluster.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "runner"}}, metav1.CreateOptions{})).In(t)
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "runner", Namespace: ns}}
	if scope == catalogue.Cluster {
		testenv.Must(rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{})).In(t)
		t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	} else {
		testenv.Must(rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{})).In(t)
	}
	// A lagging authorizer would make a verb look needed: wait until the binding is in effect.
	awaitAuthorized(t, ns, "runner", rules, map[catalogue.Scope]string{catalogue.Namespaced: ns}[scope])
	token, err := cluster.Token(ctx, ns, "runner")
	require.NoError(t, err)
	return token
}

// A Forbidden counts for the verb and resource it names only.
func TestRefusedNamesTheVerb(t *testing.T) {
	out := `Error from server (Forbidden): pods "web" is forbidden: User "system:serviceaccount:n:s" cannot delete resource "pods" in API group "" in the namespace "n"`
	require.True(t, refused(out, "delete", []string{"pods"}))
	require.False(t, refused(out, "get", []string{"pods"}), "another verb")
	require.False(t, refused(out, "delete", []string{"pods/eviction"}), "another resource")
	require.False(t, refused("context deadline exceeded", "delete", []string{"pods"}))
}
