package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/internal/check"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/internal/schemas"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var checkers sync.Map // "version/digests" -> *check.Checker

func checker(t testing.TB, kubeVersion string, requireDigests bool, skip ...string) *check.Checker {
	t.Helper()
	if len(skip) == 0 {
		key := kubeVersion + "/" + map[bool]string{true: "digests", false: "tags"}[requireDigests]
		if c, ok := checkers.Load(key); ok {
			return c.(*check.Checker)
		}
		c := newChecker(t, kubeVersion, requireDigests)
		checkers.Store(key, c)
		return c
	}
	return newChecker(t, kubeVersion, requireDigests, skip...)
}

func newChecker(t testing.TB, kubeVersion string, requireDigests bool, skip ...string) *check.Checker {
	c, err := check.New(context.Background(), check.Options{
		Catalogue: testenv.Catalogue(t), SchemaDir: schemaDir(t, kubeVersion), KubernetesVersion: kubeVersion,
		RequireDigests: requireDigests, Skip: skip,
	})
	require.NoError(t, err)
	return c
}

func violations(t testing.TB, c *check.Checker, docs []manifest.Document) []check.Violation {
	t.Helper()
	v, err := c.Check(context.Background(), docs)
	require.NoError(t, err)
	return v
}

// The suite passes on every shipped render: the Helm values matrix at both Kubernetes versions and
// every overlay (production with digests required).
func TestConformanceOnShippedRenders(t *testing.T) {
	forEachMatrixRender(t, func(t *testing.T, file, kv string, docs []manifest.Document) {
		got := violations(t, checker(t, kv, file == "digest-values.yaml"), docs)
		if file != "networkpolicy-off-values.yaml" {
			require.Empty(t, got)
			return
		}
		// Turning NetworkPolicies off is a choice the suite reports until the operator says so.
		for _, v := range got {
			require.Equal(t, "networkpolicy-present", v.Rule, v.String())
		}
		require.Len(t, got, 1+len(testenv.Catalogue(t).Actions), "controller and one Task per action are unselected")
		require.Empty(t, violations(t, checker(t, kv, false, "networkpolicy-present"), docs))
	})
	for _, o := range append([]string{"../base"}, overlays...) {
		for _, kv := range kubeVersions {
			t.Run(filepath.Base(o)+"@"+kv, func(t *testing.T) {
				got := violations(t, checker(t, kv, o == "production"), build(t, overlayDir(o)))
				require.Empty(t, got)
			})
		}
	}
}

// The embedded rules' own tests pass with every rule file covered.
func TestConformanceRuleTests(t *testing.T) {
	require.Equal(t, len(check.Rules())-len(check.GoRules)+1, requireRegoTests(t, filepath.Join(root, "internal", "check", "rules")), "every Rego rule and the library")
}

// findObject finds a document's object in docs, failing the test if it is absent.
func findObject(t *testing.T, docs []manifest.Document, kind, name string) map[string]any {
	t.Helper()
	for _, d := range docs {
		if d.Kind() == kind && d.Name() == name {
			return d.Object
		}
	}
	t.Fatalf("no %s %s", kind, name)
	return nil
}

// reread rebuilds documents from their (mutated) objects, as a file would carry them.
func reread(t *testing.T, docs []manifest.Document) []manifest.Document {
	t.Helper()
	objs := make([]map[string]any, 0, len(docs))
	for _, d := range docs {
		objs = append(objs, d.Object)
	}
	out, err := manifest.FromObjects("mutated", objs)
	require.NoError(t, err)
	return out
}

func list(v any) []any          { return v.([]any) }
func dict(v any) map[string]any { return v.(map[string]any) }

const (
	controllerName = "kubernaut-execution-controller"
	actionPods     = "kubernaut-execution-action-pods"
)

// One mutation per rule, the smallest that should trip it, applied to a clean render: exactly the
// listed rules fire. Two pairs of layers check the same property on purpose and fire together:
// host-access with pod-security, each the other's second opinion.
var mutations = []struct {
	name   string
	rules  []string
	mutate func(t *testing.T, docs []manifest.Document)
}{
	{"misspelled field", []string{"schema"}, func(t *testing.T, docs []manifest.Document) {
		dict(findObject(t, docs, "Deployment", controllerName)["spec"])["replcas"] = 2
	}},
	{"add a * verb", []string{"no-wildcards"}, func(t *testing.T, docs []manifest.Document) {
		// The leases rule: a wildcard there is no action's permission, only a wildcard.
		for _, r := range list(findObject(t, docs, "Role", controllerName)["rules"]) {
			if rule := dict(r); slices.Contains(list(rule["resources"]), any("leases")) {
				rule["verbs"] = append(list(rule["verbs"]), "*")
			}
		}
	}},
	{"grant secrets get", []string{"forbidden-grants"}, func(t *testing.T, docs []manifest.Document) {
		r := findObject(t, docs, "Role", controllerName)
		r["rules"] = append(list(r["rules"]), map[string]any{"apiGroups": []any{""}, "resources": []any{"secrets"}, "verbs": []any{"get"}})
	}},
	{"add pods/exec", []string{"forbidden-grants"}, func(t *testing.T, docs []manifest.Document) {
		r := findObject(t, docs, "Role", controllerName)
		r["rules"] = append(list(r["rules"]), map[string]any{"apiGroups": []any{""}, "resources": []any{"pods/exec"}, "verbs": []any{"create"}})
	}},
	{"bind one action role too few", []string{"controller-bind"}, func(t *testing.T, docs []manifest.Document) {
		rules := list(findObject(t, docs, "ClusterRole", controllerName)["rules"])
		bind := dict(rules[len(rules)-1])
		bind["resourceNames"] = list(bind["resourceNames"])[1:]
	}},
	// A node is both an action's target and what a target's label is on: two rules.
	{"controller holds a node patch for one node", []string{"controller-holds-no-action-permission", "controller-targets"}, func(t *testing.T, docs []manifest.Document) {
		r := findObject(t, docs, "ClusterRole", controllerName)
		r["rules"] = append(list(r["rules"]), map[string]any{"apiGroups": []any{""}, "resources": []any{"nodes"}, "verbs": []any{"patch"}, "resourceNames": []any{"worker-1"}})
	}},
	// A wildcard verb on an action's resource is both a wildcard and an action's permission.
	{"controller does anything to nodes", []string{"controller-holds-no-action-permission", "controller-targets", "no-wildcards"}, func(t *testing.T, docs []manifest.Document) {
		r := findObject(t, docs, "ClusterRole", controllerName)
		r["rules"] = append(list(r["rules"]), map[string]any{"apiGroups": []any{""}, "resources": []any{"nodes"}, "verbs": []any{"*"}})
	}},
	{"action role grants one verb more", []string{"action-role-exact"}, func(t *testing.T, docs []manifest.Document) {
		rule := dict(list(findObject(t, docs, "ClusterRole", "kubernaut-execution-action-cordon-node")["rules"])[0])
		rule["verbs"] = append(list(rule["verbs"]), "list")
	}},
	{"action role narrowed by resourceNames", []string{"rbac-covers"}, func(t *testing.T, docs []manifest.Document) {
		rule := dict(list(findObject(t, docs, "ClusterRole", "kubernaut-execution-action-cordon-node")["rules"])[0])
		rule["resourceNames"] = []any{"worker-1"}
	}},
	{"remove an action's ConfigMap key", []string{"action-complete"}, func(t *testing.T, docs []manifest.Document) {
		delete(dict(findObject(t, docs, "ConfigMap", "kubernaut-execution-policies")["data"]), "drain-node.rego")
	}},
	{"leave automountServiceAccountToken unset", []string{"automount-token"}, func(t *testing.T, docs []manifest.Document) {
		delete(findObject(t, docs, "ServiceAccount", controllerName), "automountServiceAccountToken")
	}},
	{"select no action pods", []string{"networkpolicy-present"}, func(t *testing.T, docs []manifest.Document) {
		dict(dict(dict(findObject(t, docs, "NetworkPolicy", actionPods)["spec"])["podSelector"])["matchLabels"])["app.kubernetes.io/component"] = "actions"
	}},
	{"let action pods reach a service", []string{"networkpolicy-action-egress"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "NetworkPolicy", actionPods)["spec"])
		spec["egress"] = append(list(spec["egress"]), map[string]any{
			"to":    []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "shop"}}}},
			"ports": []any{map[string]any{"port": 8080, "protocol": "TCP"}},
		})
	}},
	{"widen an API server address to /8", []string{"networkpolicy-action-egress"}, func(t *testing.T, docs []manifest.Document) {
		api := dict(list(dict(findObject(t, docs, "NetworkPolicy", actionPods)["spec"])["egress"])[0])
		dict(dict(list(api["to"])[0])["ipBlock"])["cidr"] = "10.0.0.0/8"
	}},
	{"add a port-only egress rule", []string{"networkpolicy-port-only"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "NetworkPolicy", controllerName)["spec"])
		spec["egress"] = append(list(spec["egress"]), map[string]any{"ports": []any{map[string]any{"port": 443, "protocol": "TCP"}}})
	}},
	{"label-select name: kube-system", []string{"networkpolicy-namespace-label"}, func(t *testing.T, docs []manifest.Document) {
		dns := dict(list(dict(findObject(t, docs, "NetworkPolicy", controllerName)["spec"])["egress"])[1])
		dict(list(dns["to"])[0])["namespaceSelector"] = map[string]any{"matchLabels": map[string]any{"name": "kube-system"}}
	}},
	{"allow ingress to action pods", []string{"action-ingress-denied"}, func(t *testing.T, docs []manifest.Document) {
		dict(findObject(t, docs, "NetworkPolicy", actionPods)["spec"])["ingress"] = []any{map[string]any{"from": []any{map[string]any{"podSelector": map[string]any{}}}}}
	}},
	// A UDP-only rule is not DNS either: the action egress rule counts it as another peer.
	{"DNS over UDP only", []string{"dns-udp-tcp", "networkpolicy-action-egress"}, func(t *testing.T, docs []manifest.Document) {
		dns := dict(list(dict(findObject(t, docs, "NetworkPolicy", actionPods)["spec"])["egress"])[1])
		dns["ports"] = list(dns["ports"])[:1]
	}},
	{"DNS rule to every pod of the DNS namespace", []string{"networkpolicy-action-egress"}, func(t *testing.T, docs []manifest.Document) {
		dns := dict(list(dict(findObject(t, docs, "NetworkPolicy", actionPods)["spec"])["egress"])[1])
		delete(dict(list(dns["to"])[0]), "podSelector")
	}},
	{"DNS rule with another port", []string{"networkpolicy-action-egress"}, func(t *testing.T, docs []manifest.Document) {
		dns := dict(list(dict(findObject(t, docs, "NetworkPolicy", actionPods)["spec"])["egress"])[1])
		dns["ports"] = append(list(dns["ports"]), map[string]any{"port": 8080, "protocol": "UDP"}, map[string]any{"port": 8080, "protocol": "TCP"})
	}},
	{"use :latest", []string{"image-pinning"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(dict(dict(findObject(t, docs, "Deployment", controllerName)["spec"])["template"])["spec"])
		dict(list(spec["containers"])[0])["image"] = "ghcr.io/jordigilh/kubernaut-execution-controller:latest"
	}},
	{"drop the action container's limits", []string{"resources"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(dict(dict(findObject(t, docs, "Job", actionJobName)["spec"])["template"])["spec"])
		delete(dict(dict(list(spec["containers"])[0])["resources"]), "limits")
	}},
	{"add hostPath", []string{"host-access", "pod-security"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(dict(dict(findObject(t, docs, "Job", actionJobName)["spec"])["template"])["spec"])
		spec["volumes"] = append(list(spec["volumes"]), map[string]any{"name": "root", "hostPath": map[string]any{"path": "/"}})
	}},
	{"drop allowPrivilegeEscalation: false", []string{"pod-security"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(dict(dict(findObject(t, docs, "Deployment", controllerName)["spec"])["template"])["spec"])
		delete(dict(dict(list(spec["containers"])[0])["securityContext"]), "allowPrivilegeEscalation")
	}},
	{"create Jobs cluster-wide", []string{"workload-namespace"}, func(t *testing.T, docs []manifest.Document) {
		r := findObject(t, docs, "ClusterRole", controllerName)
		r["rules"] = append(list(r["rules"]), map[string]any{"apiGroups": []any{"batch"}, "resources": []any{"jobs"}, "verbs": []any{"create"}})
	}},
	{"let the workload policy fail open", []string{"admission-policy"}, func(t *testing.T, docs []manifest.Document) {
		dict(findObject(t, docs, "ValidatingAdmissionPolicy", "kubernaut-execution-controller-workloads")["spec"])["failurePolicy"] = "Ignore"
	}},
	{"stop matching binding deletion", []string{"admission-policy"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "ValidatingAdmissionPolicy", "kubernaut-execution-controller-bindings")["spec"])
		dict(list(dict(spec["matchConstraints"])["resourceRules"])[0])["operations"] = []any{"CREATE", "UPDATE"}
	}},
	{"unprotect the release namespace", []string{"protected-namespaces"}, func(t *testing.T, docs []manifest.Document) {
		data := dict(findObject(t, docs, "ConfigMap", "kubernaut-execution-policies")["data"])
		data["_config.json"] = `{"kubernaut":{"config":{"allowedImageRegistries":[],"protectedNamespaces":["kube-node-lease","kube-public","kube-system"]}}}`
	}},
	{"execute before the dry-run", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "Task", "kubernaut-scale-deployment")["spec"])
		steps := list(spec["steps"])
		steps[2], steps[3] = steps[3], steps[2]
	}},
	{"drop the approval gate", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "Task", "kubernaut-scale-deployment")["spec"])
		spec["steps"] = slices.Delete(list(spec["steps"]), 1, 2)
	}},
	{"execute through a shell", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		execute := dict(list(dict(findObject(t, docs, "Task", "kubernaut-delete-pod")["spec"])["steps"])[3])
		execute["command"] = []any{"sh", "-c"}
		execute["args"] = []any{"kubectl delete pod $(params.pod) -n $(params.namespace)"}
	}},
	{"execute a script", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		execute := dict(list(dict(findObject(t, docs, "Task", "kubernaut-cordon-node")["spec"])["steps"])[3])
		delete(execute, "command")
		delete(execute, "args")
		execute["script"] = "kubectl cordon $(params.node)"
	}},
	// A Task no catalogue action defines: its steps answer to no gate rules, and drain-node has no Task.
	{"rename a Task to an action the catalogue lacks", []string{"action-complete", "task-steps"}, func(t *testing.T, docs []manifest.Document) {
		dict(findObject(t, docs, "Task", "kubernaut-drain-node")["metadata"])["name"] = "kubernaut-reboot-node"
	}},
	{"gate a parameter the action does not run with", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		gate := dict(list(dict(findObject(t, docs, "Task", "kubernaut-scale-deployment")["spec"])["steps"])[0])
		dict(list(gate["env"])[1])["value"] = "$(params.target)"
	}},
	{"remove the workloads admission policy", []string{"admission-policy"}, func(t *testing.T, docs []manifest.Document) {
		for i, d := range docs {
			if d.Kind() == "ValidatingAdmissionPolicy" && d.Name() == "kubernaut-execution-controller-workloads" {
				docs[i].Object = map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "placeholder", "namespace": "kubernaut-system"}}
			}
		}
	}},
	{"the run contract forgets scale-deployment's patch", []string{"run-contract"}, func(t *testing.T, docs []manifest.Document) {
		for _, v := range list(dict(findObject(t, docs, "ValidatingAdmissionPolicy", "kubernaut-execution-runs-contract")["spec"])["variables"]) {
			if dict(v)["name"] == "requests" {
				dict(v)["expression"] = strings.Replace(dict(v)["expression"].(string), `"scale-deployment":["apps/deployments/UPDATE"]`, `"scale-deployment":[]`, 1)
			}
		}
	}},
	{"the run contract matches the controller instead of the runs", []string{"run-contract"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "ValidatingAdmissionPolicy", "kubernaut-execution-runs-contract")["spec"])
		spec["matchConditions"] = []any{map[string]any{"name": "controller", "expression": `request.userInfo.username == "system:serviceaccount:kubernaut-system:kubernaut-execution-controller"`}}
	}},
	{"the policy gate drops --fail, so opa exits 0 on a refusal", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		gate := dict(list(dict(findObject(t, docs, "Task", "kubernaut-drain-node")["spec"])["steps"])[0])
		gate["args"] = slices.DeleteFunc(list(gate["args"]), func(a any) bool { return a == "--fail" })
	}},
	{"the policy gate continues on error", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		steps := list(dict(findObject(t, docs, "Task", "kubernaut-scale-deployment")["spec"])["steps"])
		dict(steps[0])["onError"] = "continue"
	}},
	{"the approval defaults to a name", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		for _, p := range list(dict(findObject(t, docs, "Task", "kubernaut-scale-deployment")["spec"])["params"]) {
			if dict(p)["name"] == "approval" {
				dict(p)["default"] = "standing-approval"
			}
		}
	}},
	{"a Task runs a sidecar", []string{"task-steps"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "Task", "kubernaut-scale-deployment")["spec"])
		step := dict(list(spec["steps"])[3])
		spec["sidecars"] = []any{map[string]any{"name": "helper", "image": step["image"], "command": []any{"kubectl"}, "args": []any{"proxy"},
			"securityContext": dict(spec["stepTemplate"])["securityContext"]}}
	}},
	{"the workloads policy matches another identity", []string{"admission-policy"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "ValidatingAdmissionPolicy", "kubernaut-execution-controller-workloads")["spec"])
		dict(list(spec["matchConditions"])[0])["expression"] = `request.userInfo.username == "system:serviceaccount:kubernaut-system:default"`
	}},
	{"the bindings policy's binding selects nothing", []string{"admission-policy"}, func(t *testing.T, docs []manifest.Document) {
		spec := dict(findObject(t, docs, "ValidatingAdmissionPolicyBinding", "kubernaut-execution-controller-bindings")["spec"])
		spec["matchResources"] = map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"nobody": "sets-this"}}}
	}},
	{"the controller may label namespaces", []string{"controller-targets"}, func(t *testing.T, docs []manifest.Document) {
		r := findObject(t, docs, "ClusterRole", controllerName)
		r["rules"] = append(list(r["rules"]), map[string]any{"apiGroups": []any{""}, "resources": []any{"namespaces"}, "verbs": []any{"patch"}})
	}},
	{"drop a Task's stepTemplate privilege setting", []string{"pod-security"}, func(t *testing.T, docs []manifest.Document) {
		tpl := dict(dict(findObject(t, docs, "Task", "kubernaut-drain-node")["spec"])["stepTemplate"])
		delete(dict(tpl["securityContext"]), "allowPrivilegeEscalation")
	}},
}

func TestMutationsTripExactlyTheirRule(t *testing.T) {
	clean := withActionJob(t, defaultRender(t))
	c := checker(t, render.NewestKubernetes, false)
	require.Empty(t, violations(t, c, clean))
	tripped := map[string]bool{}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			docs := reread(t, clean) // a fresh copy
			m.mutate(t, docs)
			var rules []string
			for _, v := range violations(t, c, reread(t, docs)) {
				rules = append(rules, v.Rule)
				require.NotEmpty(t, v.Message)
			}
			slices.Sort(rules)
			require.Equal(t, m.rules, slices.Compact(rules))
			for _, r := range m.rules {
				tripped[r] = true
			}
		})
	}
	for _, r := range check.Rules() {
		require.True(t, tripped[r], "no mutation trips rule %s", r)
	}
}

// digests are required on production renders only: a tag fails there.
func TestRequireDigests(t *testing.T) {
	got := violations(t, checker(t, render.NewestKubernetes, true), defaultRender(t))
	require.NotEmpty(t, got)
	for _, v := range got {
		require.Equal(t, "image-pinning", v.Rule)
	}
}

// The real command: 0 on a clean render, 1 on each mutated one, 2 on input it cannot read.
func TestCheckCommand(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kubernaut-execution")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kubernaut-execution")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	dir := t.TempDir()
	write := func(name string, docs []manifest.Document) string {
		file := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(file, manifest.Join(docs), 0o644))
		return file
	}
	runCheck := func(stdin []byte, args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"check"}, args...)...)
		cmd.Dir = root
		cmd.Stdin = bytes.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return code, stdout.String() + stderr.String()
	}

	clean := withActionJob(t, defaultRender(t))
	cleanFile := write("clean.yaml", clean)
	code, output := runCheck(nil, "-f", cleanFile)
	require.Equal(t, 0, code, output)
	require.Contains(t, output, "documents conform")

	// Several files are checked together: the cross-object rules see both halves.
	code, output = runCheck(nil, "-f", write("first.yaml", clean[:len(clean)/2]), "-f", write("second.yaml", clean[len(clean)/2:]))
	require.Equal(t, 0, code, output)
	code, output = runCheck(nil, "-f", write("half.yaml", clean[:len(clean)/2]))
	require.Equal(t, 1, code, output)

	data, err := os.ReadFile(cleanFile)
	require.NoError(t, err)
	code, output = runCheck(data, "-f", "-", "--output", "json")
	require.Equal(t, 0, code, output)
	var report struct {
		Documents  int               `json:"documents"`
		Violations []check.Violation `json:"violations"`
	}
	require.NoError(t, json.Unmarshal([]byte(output), &report))
	require.Equal(t, len(clean), report.Documents)
	require.Empty(t, report.Violations)

	for i, m := range mutations {
		docs := reread(t, clean)
		m.mutate(t, docs)
		code, output := runCheck(nil, "-f", write(filepath.Base(t.Name())+string(rune('a'+i))+".yaml", reread(t, docs)))
		require.Equal(t, 1, code, "%s: %s", m.name, output)
		require.Contains(t, output, m.rules[0]+"\t", m.name)
		require.Contains(t, output, "violation(s) in")
	}

	code, output = runCheck([]byte("kind: [\n"), "-f", "-")
	require.Equal(t, 2, code, output)
	require.Contains(t, output, "not valid YAML")
	code, output = runCheck([]byte("apiVersion: v1\nkind: ConfigMap\n"), "-f", "-")
	require.Equal(t, 2, code, output)
	require.Contains(t, output, "not a Kubernetes object")
	code, output = runCheck(nil, "-f", cleanFile, "--skip", "no-such-rule")
	require.Equal(t, 2, code, output)
	require.Contains(t, output, `unknown rule "no-such-rule"`)

	// The chart's limit on API-server CIDRs: a /24 fails by default and passes with the limit an
	// operator set in values (networkPolicy.apiServer.minPrefixLength.ipv4: 24).
	values := readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml"))
	values["networkPolicy"] = map[string]any{"apiServer": map[string]any{"cidrs": []any{"10.96.0.0/24"}, "minPrefixLength": map[string]any{"ipv4": 24}}}
	broad, err := renderWith(t, render.NewestKubernetes, values)
	require.NoError(t, err)
	broadFile := write("broad.yaml", withActionJob(t, broad))
	code, output = runCheck(nil, "-f", broadFile)
	require.Equal(t, 1, code, output)
	require.Contains(t, output, "ipBlock 10.96.0.0/24 is broader than /32")
	code, output = runCheck(nil, "-f", broadFile, "--min-prefix-ipv4", "24")
	require.Equal(t, 0, code, output)
	code, output = runCheck(nil, "-f", broadFile, "--min-prefix-ipv4", "33")
	require.Equal(t, 2, code, output)

	// Anywhere: outside a checkout, with an empty cache, the schemas are generated into the user's
	// cache from the pinned modules, and the check runs as in the checkout.
	outside, cache := t.TempDir(), t.TempDir()
	cmd := exec.Command(bin, "check", "-f", cleanFile)
	cmd.Dir, cmd.Env = outside, append(os.Environ(), "XDG_CACHE_HOME="+cache, "KUBERNAUT_CACHE=")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "documents conform")
	require.DirExists(t, filepath.Join(cache, "kubernaut-execution", "schemas", render.NewestKubernetes))
}

// check's default limit on API-server CIDRs is the chart's default.
func TestCheckLimitIsTheChartDefault(t *testing.T) {
	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	require.EqualValues(t, check.DefaultMinPrefixLength.IPv4, get(values, "networkPolicy", "apiServer", "minPrefixLength", "ipv4"))
	require.EqualValues(t, check.DefaultMinPrefixLength.IPv6, get(values, "networkPolicy", "apiServer", "minPrefixLength", "ipv6"))
}

// BenchmarkCheck measures kubernaut-execution check's work on the full default render (the checker prepared once).
func BenchmarkCheck(b *testing.B) {
	docs := defaultRender(b)
	c := checker(b, render.NewestKubernetes, false)
	ctx := context.Background()
	for b.Loop() {
		if v, err := c.Check(ctx, docs); err != nil || len(v) > 0 {
			b.Fatalf("%v %v", v, err)
		}
	}
}

// BenchmarkCheckPipeline times whole processes, as a CI job runs them: the chart rendered by helm
// template and piped into `kubernaut-execution check`, against the same render piped into kubeconform
// with the same schemas (the schema layer alone). Compare the two ns/op; `make bench` builds the
// binaries it needs (bin/kubernaut-execution, kubeconform from go.mod's pin).
func BenchmarkCheckPipeline(b *testing.B) {
	helm, _, err := testenv.HelmAndRegistry(root)
	require.NoError(b, err)
	kubeconform := filepath.Join(cache.Dir(root), "bin", "kubeconform")
	command := filepath.Join(root, "bin", "kubernaut-execution")
	for _, bin := range []string{kubeconform, command} {
		require.FileExists(b, bin, "run make bench")
	}
	schemaDir := schemaDir(b, render.NewestKubernetes)
	version := strings.TrimPrefix(render.NewestKubernetes, "v")
	template := fmt.Sprintf("%s template %s %s -n %s --kube-version %s --set 'networkPolicy.apiServer.cidrs={10.96.0.1/32}'",
		helm, render.DefaultRelease, chartDir, render.DefaultNamespace, version)
	for name, consumer := range map[string]string{
		"check":       command + " check -f -",
		"kubeconform": fmt.Sprintf("%s -strict -summary -kubernetes-version %s -schema-location '%s'", kubeconform, version, schemas.PathTemplate(schemaDir)),
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				out, err := exec.Command("sh", "-c", template+" | "+consumer).CombinedOutput()
				require.NoError(b, err, string(out))
			}
		})
	}
}
