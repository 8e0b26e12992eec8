//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// runAs provisions a run of action in ns as the controller does and returns a client holding the run's
// token: what a step of the run sends, and what a stolen run token sends straight to the API.
func runAs(t *testing.T, action, id, ns string) kubernetes.Interface {
	t.Helper()
	_, client := runWithClient(t, action, id, ns)
	return client
}

func runWithClient(t *testing.T, action, id, ns string) (*Run, kubernetes.Interface) {
	t.Helper()
	controller := controllerClient(t)
	a := testenv.Action(t, action)
	r, err := provision(ctx, controller, a, id, ns)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.remove(ctx, controller) })
	awaitAuthorized(t, releaseNS, r.ServiceAccount, a.PolicyRules(), r.bindingNamespace())
	token, err := cluster.Token(ctx, releaseNS, r.ServiceAccount)
	require.NoError(t, err)
	client, _, err := cluster.As(token)
	require.NoError(t, err)
	return r, client
}

// patchDeployment sends a strategic merge patch, as patch-deployment's and kubectl's do.
func patchDeployment(c kubernetes.Interface, ns, name string, patch any, dry bool) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{}
	if dry {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = c.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, data, opts)
	return err
}

func containerPatch(fields map[string]any) map[string]any {
	c := map[string]any{"name": "web"}
	for k, v := range fields {
		c[k] = v
	}
	return map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{c}}}}}
}

// contractCase is one request of a run identity: the attack must be refused with want, beside a
// control that the contract admits.
type contractCase struct {
	name    string
	attack  func() error
	want    string
	control func() error
}

func (c contractCase) check(t *testing.T, tb *table) {
	t.Helper()
	err := c.attack()
	refusedByPolicy(t, err, c.want)
	tb.add(c.name, "refused", firstLine(c.want))
	if c.control != nil {
		require.NoError(t, c.control(), "%s: the control", c.name)
	}
}

// A deployment whose owner opted two env names and one image repository in.
func ownedDeployment(t *testing.T, ns, name string, labels map[string]string) {
	t.Helper()
	d := deployment(name, "registry.example.com/shop/web:1.0", 2)
	d.Annotations = map[string]string{
		execution.PatchableEnvAnnotation:    "LOG_LEVEL, FEATURE_X",
		execution.PatchableImagesAnnotation: "registry.example.com/shop/web",
	}
	d.Labels = labels
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "AUTH", Value: "on"}}
	d.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	d.Spec.Template.Spec.Containers[0].Args = []string{"--auth=on"}
	testenv.Must(cluster.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})).In(t)
}

// What a hostile caller or a stolen run token can make a run do to a Deployment, refused by the API
// server beside what the action is for.
func TestRunContractDeployments(t *testing.T) {
	installed(t)
	ns := namespace(t, "contract-deploy", nil)
	ownedDeployment(t, ns, "web", nil)
	ownedDeployment(t, ns, "kept", map[string]string{execution.ManagedLabel: "false"})
	tb := &table{t: t}

	patch := runAs(t, "patch-deployment", "contract-patch", ns)
	scale := runAs(t, "scale-deployment", "contract-scale", ns)
	rollback := runAs(t, "rollback-deployment", "contract-rollback", ns)
	dry := func(c kubernetes.Interface, p any) func() error {
		return func() error { return patchDeployment(c, ns, "web", p, true) }
	}
	for _, c := range []contractCase{
		{"patch-deployment: serviceAccountName", dry(patch, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"serviceAccountName": "admin"}}}}),
			"may change only", dry(patch, containerPatch(map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "256Mi"}}}))},
		{"patch-deployment: env not listed by the owner (ARGOCD_SERVER_DISABLE_AUTH)", dry(patch, containerPatch(map[string]any{"env": []any{map[string]any{"name": "ARGOCD_SERVER_DISABLE_AUTH", "value": "true"}}})),
			"kubernaut.ai/patchable-env", dry(patch, containerPatch(map[string]any{"env": []any{map[string]any{"name": "LOG_LEVEL", "value": "debug"}}}))},
		{"patch-deployment: LD_PRELOAD", dry(patch, containerPatch(map[string]any{"env": []any{map[string]any{"name": "LD_PRELOAD", "value": "/tmp/x.so"}}})), "kubernaut.ai/patchable-env", nil},
		{"patch-deployment: a listed name from a Secret (valueFrom)", dry(patch, containerPatch(map[string]any{"env": []any{map[string]any{"name": "FEATURE_X", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "db", "key": "password"}}}}})),
			"valueFrom", dry(patch, containerPatch(map[string]any{"env": []any{map[string]any{"name": "FEATURE_X", "value": "on"}}}))},
		{"patch-deployment: an unlisted variable removed", dry(patch, containerPatch(map[string]any{"env": []any{map[string]any{"name": "AUTH", "$patch": "delete"}}})), "kubernaut.ai/patchable-env", nil},
		{"patch-deployment: empty list clears capabilities.drop", dry(patch, containerPatch(map[string]any{"securityContext": map[string]any{"capabilities": map[string]any{"drop": []any{}}}})), "may change only", nil},
		{"patch-deployment: empty list clears args", dry(patch, containerPatch(map[string]any{"args": []any{}})), "may change only", nil},
		{"patch-deployment: tolerate everything", dry(patch, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"tolerations": []any{map[string]any{"operator": "Exists"}}}}}}), "may change only", nil},
		{"patch-deployment: a new container", dry(patch, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "miner", "image": "registry.example.com/shop/web:2.0"}}}}}}), "may change only", nil},
		{"patch-deployment: an image outside the listed repository (prefix trick)", dry(patch, containerPatch(map[string]any{"image": "registry.example.com/shop/web-evil:1.0"})),
			"kubernaut.ai/patchable-images", dry(patch, containerPatch(map[string]any{"image": "registry.example.com/shop/web:1.1"}))},
		{"patch-deployment: the owner's annotations", dry(patch, map[string]any{"metadata": map[string]any{"annotations": map[string]any{execution.PatchableEnvAnnotation: "*"}}}), "may change only", nil},
		{"patch-deployment: the managed label", dry(patch, map[string]any{"metadata": map[string]any{"labels": map[string]any{execution.ManagedLabel: "true"}}}), "may change only", nil},
		{"scale-deployment: replicas and serviceAccountName", dry(scale, map[string]any{"spec": map[string]any{"replicas": 3, "template": map[string]any{"spec": map[string]any{"serviceAccountName": "admin"}}}}),
			"may change only spec.replicas", dry(scale, map[string]any{"spec": map[string]any{"replicas": 3}})},
		{"scale-deployment: above the parameter's maximum", dry(scale, map[string]any{"spec": map[string]any{"replicas": 5000}}), "as parameter replicas allows", nil},
		{"scale-deployment: an opted-out deployment", func() error {
			return patchDeployment(scale, ns, "kept", map[string]any{"spec": map[string]any{"replicas": 0}}, true)
		},
			"is opted out", nil},
		{"rollback-deployment: another ServiceAccount and args", dry(rollback, map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"serviceAccountName": "argocd-application-controller", "containers": []any{map[string]any{"name": "web", "args": []any{"--skip-auth"}}}}}}}),
			"may change only", dry(rollback, containerPatch(map[string]any{"image": "registry.example.com/shop/web:0.9"}))},
		{"rollback-deployment: a seccomp annotation", dry(rollback, map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{"container.apparmor.security.beta.kubernetes.io/web": "unconfined"}}}}}),
			"AppArmor or seccomp", nil},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, tb) })
	}

	// Production is the namespace's label, not the caller's word.
	prod := namespace(t, "contract-prod", map[string]string{execution.EnvironmentLabel: "production"})
	ownedDeployment(t, prod, "web", nil)
	prodScale := runAs(t, "scale-deployment", "contract-prod-scale", prod)
	contractCase{"scale-deployment: zero replicas in a production namespace",
		func() error {
			return patchDeployment(prodScale, prod, "web", map[string]any{"spec": map[string]any{"replicas": 0}}, true)
		},
		"production namespace to zero replicas",
		func() error {
			return patchDeployment(prodScale, prod, "web", map[string]any{"spec": map[string]any{"replicas": 1}}, true)
		}}.check(t, tb)
	tb.print("ATTACK", "RESULT", "REFUSED WITH")
}

// ConfigMaps, nodes, evictions and requests outside any contract.
func TestRunContractTargets(t *testing.T) {
	installed(t)
	tb := &table{t: t}
	ns := namespace(t, "contract-targets", nil)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Annotations: map[string]string{execution.PatchableKeysAnnotation: "LOG_LEVEL"}},
		Data: map[string]string{"LOG_LEVEL": "info", "policy.default": "role:readonly"}}
	testenv.Must(cluster.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})).In(t)
	pc := runAs(t, "patch-configmap", "contract-cm", ns)
	mergeCM := func(patch string) func() error {
		return func() error {
			_, err := pc.CoreV1().ConfigMaps(ns).Patch(ctx, "app", types.MergePatchType, []byte(patch), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}
	}
	contractCase{"patch-configmap: a key the owner did not list (policy.default: role:admin)", mergeCM(`{"data":{"policy.default":"role:admin"}}`),
		"kubernaut.ai/patchable-keys", mergeCM(`{"data":{"LOG_LEVEL":"debug"}}`)}.check(t, tb)
	contractCase{"patch-configmap: removing a key the owner did not list", mergeCM(`{"data":{"policy.default":null}}`), "kubernaut.ai/patchable-keys", nil}.check(t, tb)
	contractCase{"patch-configmap: the owner's annotation", mergeCM(`{"metadata":{"annotations":{"kubernaut.ai/patchable-keys":"policy.default"}}}`), "may change only data", nil}.check(t, tb)

	// Nodes: opted in by their own label; a control-plane node never.
	worker, plain, control := "contract-worker", "contract-plain", "contract-control"
	seedNode(t, worker)
	testenv.Must(cluster.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: plain}}, metav1.CreateOptions{})).In(t)
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Nodes().Delete(ctx, plain, metav1.DeleteOptions{}) })
	testenv.Must(cluster.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: control,
		Labels: map[string]string{execution.ManagedLabel: "true", "node-role.kubernetes.io/control-plane": ""}}}, metav1.CreateOptions{})).In(t)
	t.Cleanup(func() { _ = cluster.Client.CoreV1().Nodes().Delete(ctx, control, metav1.DeleteOptions{}) })
	drain := runAs(t, "drain-node", "contract-drain", "")
	patchNode := func(node, patch string) func() error {
		return func() error {
			_, err := drain.CoreV1().Nodes().Patch(ctx, node, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
			return err
		}
	}
	cordon := `{"spec":{"unschedulable":true}}`
	contractCase{"drain-node: a node nobody opted in", patchNode(plain, cordon), "is not a target", patchNode(worker, cordon)}.check(t, tb)
	contractCase{"drain-node: a control-plane node, opted in", patchNode(control, cordon), "control-plane node", nil}.check(t, tb)
	contractCase{"drain-node: removing a node's role label and taints", patchNode(control, `{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":null}},"spec":{"taints":[]}}`), "may change only spec.unschedulable", nil}.check(t, tb)
	contractCase{"drain-node: the node's opt-in label", patchNode(worker, `{"metadata":{"labels":{"kubernaut.ai/managed":null}}}`), "may change only spec.unschedulable", nil}.check(t, tb)
	contractCase{"drain-node: uncordon", patchNode(worker, `{"spec":{"unschedulable":false}}`), "only mark the node unschedulable", nil}.check(t, tb)

	// Evictions count in the pod's namespace.
	plainNS := unmanagedNamespace(t, "contract-unmanaged")
	evict := func(namespace string) func() error {
		return func() error {
			return drain.PolicyV1().Evictions(namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "absent", Namespace: namespace},
				DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}})
		}
	}
	err := evict(plainNS)()
	refusedByPolicy(t, err, "is not a target")
	tb.add("drain-node: evict a pod of an unmanaged namespace", "refused", "is not a target")
	err = evict("kube-system")()
	refusedByPolicy(t, err, "is protected")
	tb.add("drain-node: evict a kube-system pod", "refused", "is protected")
	// The control: in a managed namespace the eviction passes admission and fails only on the absent pod.
	err = evict(ns)()
	require.Error(t, err)
	require.NotContains(t, err.Error(), "ValidatingAdmissionPolicy")
	require.Contains(t, err.Error(), "not found")

	// A run identity that was granted more than its action (a mistaken role, a stolen controller
	// token's binding): whatever the request, it is outside the action's contract.
	r, restart := runWithClient(t, "restart-pod", "contract-extra", ns)
	grant := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}}}
	testenv.Must(cluster.Client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "extra"}, Rules: grant}, metav1.CreateOptions{})).In(t)
	testenv.Must(cluster.Client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "extra"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extra"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: r.ServiceAccount, Namespace: releaseNS}}}, metav1.CreateOptions{})).In(t)
	awaitAuthorized(t, releaseNS, r.ServiceAccount, grant, ns)
	_, err = restart.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "planted"}}, dryRun)
	refusedByPolicy(t, err, "a restart-pod run may not make the request /configmaps/CREATE")
	tb.add("restart-pod granted configmaps create by mistake", "refused", "may not make the request /configmaps/CREATE")

	// One run, one target: the same identity bound (by an administrator, or a forged binding) in a second
	// opted-in namespace still acts only in its own.
	second := namespace(t, "contract-second", nil)
	seedPod(t, second, "web", "", nil)
	testenv.Must(cluster.Client.RbacV1().RoleBindings(second).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "second"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: actionRole("restart-pod")},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: r.ServiceAccount, Namespace: releaseNS}}}, metav1.CreateOptions{})).In(t)
	awaitAuthorized(t, releaseNS, r.ServiceAccount, testenv.Action(t, "restart-pod").PolicyRules(), second)
	err = restart.CoreV1().Pods(second).Delete(ctx, "web", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
	refusedByPolicy(t, err, "acts only in the namespace its identity was made for")
	tb.add("restart-pod bound in a second namespace", "refused", "acts only in the namespace its identity was made for")
	tb.print("ATTACK", "RESULT", "REFUSED WITH")
}

// Nothing is a target unless opted in: the controller cannot bind a run in an unmanaged or protected
// namespace, labelled or not.
func TestRunsOnlyOnOptedInNamespaces(t *testing.T) {
	installed(t)
	controller := controllerClient(t)
	a := testenv.Action(t, "restart-pod")
	plain := unmanagedNamespace(t, "optin-plain")
	_, err := provision(ctx, controller, a, "optin-plain", plain)
	refusedByPolicy(t, err, "is not a target")
	managedKubeSystem := "kube-public"
	_, err = cluster.Client.CoreV1().Namespaces().Patch(ctx, managedKubeSystem, types.MergePatchType,
		[]byte(fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, execution.ManagedLabel)), metav1.PatchOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = cluster.Client.CoreV1().Namespaces().Patch(ctx, managedKubeSystem, types.MergePatchType,
			[]byte(fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, execution.ManagedLabel)), metav1.PatchOptions{})
	})
	_, err = provision(ctx, controller, a, "optin-protected", managedKubeSystem)
	refusedByPolicy(t, err, "protected namespace")
	// The control.
	r, err := provision(ctx, controller, a, "optin-managed", namespace(t, "optin-managed", nil))
	require.NoError(t, err)
	require.NoError(t, r.remove(ctx, controller))
}

// The kill switch: one label on the release namespace stops every new run workload and every
// changing request of a run identity; removing it resumes.
func TestPauseAndResume(t *testing.T) {
	installed(t)
	ns := namespace(t, "pause", nil)
	seedPod(t, ns, "web", "", nil)
	restart := runAs(t, "restart-pod", "pause", ns)
	controller := controllerClient(t)
	deletePod := func() error {
		return restart.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
	}
	createJob := func() error {
		_, err := controller.BatchV1().Jobs(releaseNS).Create(ctx, runJob(t, "restart-pod", "pause-job", runrbacName(t, "restart-pod", "pause-job")), dryRun)
		return err
	}
	require.NoError(t, deletePod(), "control: the run works before the pause")
	require.NoError(t, createJob(), "control: the controller starts runs before the pause")

	label := func(value any) {
		t.Helper()
		data, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{execution.PausedLabel: value}}})
		require.NoError(t, err)
		_, err = cluster.Client.CoreV1().Namespaces().Patch(ctx, releaseNS, types.MergePatchType, data, metav1.PatchOptions{})
		require.NoError(t, err)
	}
	label("true")
	t.Cleanup(func() { label(nil) })
	require.NoError(t, testenv.WaitFor(ctx, contractTimeout, func() error {
		if err := deletePod(); err == nil {
			return fmt.Errorf("the run still deletes pods")
		}
		return nil
	}))
	refusedByPolicy(t, deletePod(), "runs are paused")
	refusedByPolicy(t, createJob(), "runs are paused")
	// Nobody the chart creates can lift it: neither the controller nor a run may patch namespaces.
	for _, c := range []kubernetes.Interface{controller, restart} {
		_, err := c.CoreV1().Namespaces().Patch(ctx, releaseNS, types.MergePatchType, []byte(`{"metadata":{"labels":{"kubernaut.io/paused":null}}}`), metav1.PatchOptions{})
		require.Error(t, err)
		require.Contains(t, err.Error(), "forbidden")
	}
	label(nil)
	require.NoError(t, testenv.WaitFor(ctx, contractTimeout, deletePod), "resumed")
	require.NoError(t, createJob(), "resumed")
}

func runrbacName(t *testing.T, action, job string) string {
	t.Helper()
	c, err := execution.Discover(ctx, cluster.Client, releaseNS)
	require.NoError(t, err)
	return c.RunServiceAccountPrefix + action + "." + job
}

// contractTimeout bounds the wait for the API server to load a label change of the policy's parameter.
const contractTimeout = 30 * time.Second
