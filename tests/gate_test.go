package tests

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// opaBinary is the opa CLI that `make tools` built, at the version tools/go.mod pins.
var opaBinary = sync.OnceValues(func() (string, error) {
	return testenv.Tool(cache.Dir(root), "opa", filepath.Join(root, "tools", "go.mod"), "github.com/open-policy-agent/opa", "version")
})

// policyFiles writes the rendered policy ConfigMap's data to a directory, as the kubelet mounts it.
func policyFiles(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range defaultRender(t) {
		if d.Kind() != "ConfigMap" || !strings.HasSuffix(d.Name(), "-policies") {
			continue
		}
		var cm struct{ Data map[string]string }
		require.NoError(t, yaml.Unmarshal(d.YAML, &cm))
		require.NotEmpty(t, cm.Data)
		for key, content := range cm.Data {
			require.NoError(t, os.WriteFile(filepath.Join(dir, key), []byte(content), 0o644))
		}
	}
	// Where a pod has its ServiceAccount token, which the approval-gate step loads. The steps run here
	// have no API server address: a run that needs approval finds none and stops, as in a pod whose
	// workload names no approval it can show.
	require.NoError(t, os.WriteFile(filepath.Join(dir, localToken), []byte("not-a-token\n"), 0o600))
	return dir
}

// localToken is the token file in the directory policyFiles writes.
const localToken = "_test-token"

// localArg is an opa argument of a step with the pod's paths (the policy volume, the token) replaced
// by the files in dir.
func localArg(arg, dir string) string {
	arg = strings.Replace(arg, "="+steps.PolicyDir+"/", "="+dir+"/", 1)
	return strings.Replace(arg, ":"+steps.TokenPath, ":"+filepath.Join(dir, localToken), 1)
}

// envRef is a $(VAR) reference in a Job container's args, as the kubelet expands it.
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// substituteParams replaces the $(params.<name>) references in a value of one of task's steps with
// values, as Tekton would. The Task's params are the catalogue's parameters and the run inputs (target,
// run, approval), all named by the catalogue's rule, so its placeholder reads every reference a step
// makes: one left over, or one without a value, fails t.
func substituteParams(t testing.TB, task, s string, values map[string]string) string {
	t.Helper()
	out := catalogue.Substitute(s, func(name string) string {
		v, ok := values[name]
		require.True(t, ok, "%s: no value for $(params.%s)", task, name)
		return v
	})
	require.NotContains(t, out, "$(params.", "%s: a reference the catalogue's placeholder does not read", task)
	return out
}

// runStep runs one step of a rendered Task as Tekton would: $(params.x) replaced in args and env
// values (with the Task's defaults), the stepTemplate's environment plus the step's, and the policy
// ConfigMap mounted at /policies (here, the directory policies). It returns the exit code and output.
func runStep(t testing.TB, task *pipelinev1.Task, step string, params map[string]string, policies string) (int, string) {
	t.Helper()
	values := map[string]string{}
	for _, p := range task.Spec.Params {
		if v, ok := params[p.Name]; ok {
			values[p.Name] = v
		} else if p.Default != nil {
			values[p.Name] = p.Default.StringVal
		}
	}
	substitute := func(s string) string { return substituteParams(t, task.Name, s, values) }
	var s *pipelinev1.Step
	for i := range task.Spec.Steps {
		if task.Spec.Steps[i].Name == step {
			s = &task.Spec.Steps[i]
		}
	}
	require.NotNil(t, s, "%s has no step %s", task.Name, step)
	require.Equal(t, []string{"/opa"}, s.Command)
	bin, err := opaBinary()
	require.NoError(t, err)
	var args []string
	for _, a := range s.Args {
		args = append(args, localArg(substitute(a), policies))
	}
	var env []string
	for _, e := range append(append([]corev1.EnvVar{}, task.Spec.StepTemplate.Env...), s.Env...) {
		env = append(env, e.Name+"="+substitute(e.Value))
	}
	return runOPA(t, bin, args, env)
}

// runOPA runs the opa CLI with exactly env as its environment, as a container would, and returns
// its exit code and output.
func runOPA(t testing.TB, bin string, args, env []string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String()
	}
	require.NoError(t, err)
	return 0, out.String()
}

// Valid parameters and targets for every action, as a controller would pass them.
var validParams = testenv.ValidParams()

// paramsFor are validParams with the values an action reads differently.
var paramsFor = testenv.ParamsFor

func withParams(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// Every action's Task, run with valid inputs, passes its policy gate; only the actions whose catalogue
// entry or policy asks for approval stop at the approval gate.
func TestGateStepsAllowEveryActionWithValidInput(t *testing.T) {
	policies := policyFiles(t)
	rendered := tasks(t, defaultRender(t))
	for _, a := range testenv.Catalogue(t).Actions {
		task := rendered[tekton.TaskName(a.Name)]
		code, out := runStep(t, task, steps.PolicyGate, paramsFor(a.Name), policies)
		require.Equal(t, 0, code, "%s policy gate: %s", a.Name, out)
		code, out = runStep(t, task, steps.ApprovalGate, paramsFor(a.Name), policies)
		wantApproval := a.Approval
		require.Equal(t, map[bool]int{false: 0, true: 1}[wantApproval], code, "%s approval gate: %s", a.Name, out)
	}
}

// gateCase is one case of the gate's test table: the Task steps' exit codes, and what the policy
// gate's log says. tests/decide_test.go runs the same table through execution/gate.
type gateCase struct {
	name          string
	task          *pipelinev1.Task
	params        map[string]string
	policies      func(t *testing.T, dir string)
	policy, again int    // exit codes of the policy gate and the approval gate: 1 refused, 2 not evaluable
	output        string // in the policy gate's log
}

func gateCases(t testing.TB) []gateCase {
	rendered := tasks(t, defaultRender(t))
	scale := rendered[tekton.TaskName("scale-deployment")]
	production := `{"environment":"production","labels":{},"currentReplicas":2}`
	return []gateCase{
		{name: "allow", task: scale, params: validParams, output: `"allowed": true`},
		{name: "deny", task: scale, params: withParams(validParams, "replicas", "0", "target", production), policy: 1,
			output: "refusing to scale a production deployment to zero replicas"},
		{name: "approval", task: scale, params: withParams(validParams, "replicas", "50"), again: 1, output: "large scale-up from 2 to 50 replicas"},
		{name: "says approved", task: scale, params: withParams(validParams, "replicas", "50", "approved", "true"), again: 1, output: "large scale-up from 2 to 50 replicas"},
		{name: "names an approval it cannot show", task: scale, params: withParams(validParams, "replicas", "50", "run", "shop/scale", "approval", "scale"), again: 1, output: "large scale-up from 2 to 50 replicas"},
		{name: "missing policy", task: scale, params: validParams, policy: 2, again: 2, output: "scale-deployment.rego: no such file",
			policies: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, "scale-deployment.rego")))
			}},
		{name: "broken policy", task: scale, params: validParams, policy: 2, again: 2, output: "rego_parse_error",
			policies: overwrite("scale-deployment.rego", "package kubernaut.actions.scale_deployment\n\ndeny contains msg if {\n")},
		{name: "undefined result", task: scale, params: validParams, policy: 1, output: `the policy of \"scale-deployment\" gives no deny decision`,
			policies: overwrite("scale-deployment.rego", "package kubernaut.actions.scale_deployment\n\nrequires_approval := set()\n")},
		{name: "evaluation error", task: scale, params: validParams, policy: 2, again: 2, output: "eval_conflict_error",
			policies: overwrite("scale-deployment.rego", "package kubernaut.actions.scale_deployment\n\ndeny := {\"a\"}\n\ndeny := {\"b\"} if true\n\nrequires_approval := set()\n")},
		{name: "flag as deployment name", task: scale, params: withParams(validParams, "deployment", "--all"), policy: 1,
			output: `parameter \"deployment\" must not start with \"-\"`},
		{name: "negative replicas", task: scale, params: withParams(validParams, "replicas", "-1"), policy: 1,
			output: `parameter \"replicas\" must be a whole number, got \"-1\"`},
		{name: "exponent replicas", task: scale, params: withParams(validParams, "replicas", "1e9"), policy: 1,
			output: `parameter \"replicas\" must be a whole number, got \"1e9\"`},
		{name: "too many replicas", task: scale, params: withParams(validParams, "replicas", "1000000000"), policy: 1, again: 1,
			output: `parameter \"replicas\" must be at most 1000, got 1000000000`},
		{name: "namespace with a space", task: scale, params: withParams(validParams, "namespace", "my shop"), policy: 1,
			output: `parameter \"namespace\" does not match`},
		{name: "malformed target", task: scale, params: withParams(validParams, "target", "production"), policy: 1,
			output: "target context is missing or not an object"},
		{name: "protected namespace", task: scale, params: withParams(validParams, "namespace", "kube-system"), policy: 1,
			output: `refusing to run scale-deployment in protected namespace \"kube-system\"`},
		{name: "release namespace", task: scale, params: withParams(validParams, "namespace", "kubernaut-system"), policy: 1,
			output: `refusing to run scale-deployment in protected namespace \"kubernaut-system\"`},
		{name: "patch giving pods another ServiceAccount", task: rendered[tekton.TaskName("patch-deployment")], policy: 1,
			params: withParams(paramsFor("patch-deployment"), "patch", `{"spec":{"template":{"spec":{"serviceAccountName":"admin"}}}}`),
			output: "patch may not set spec.template.spec.serviceAccountName"},
		{name: "patch removing settings with a directive", task: rendered[tekton.TaskName("patch-deployment")], policy: 1,
			params: withParams(paramsFor("patch-deployment"), "patch", `{"spec":{"template":{"spec":{"containers":[{"name":"web","securityContext":{"$patch":"delete"}}]}}}}`),
			output: `patch uses the strategic-merge directive \"$patch\"`},
		{name: "patch of a ConfigMap's metadata", task: rendered[tekton.TaskName("patch-configmap")], policy: 1,
			params: withParams(validParams, "patch", `{"metadata":{"annotations":{"a":"b"}}}`),
			output: `patch may only set data.<key>, not \"metadata\"`},
		{name: "selector with a set-based requirement", task: rendered[tekton.TaskName("custom-script")], policy: 1, again: 1,
			params: withParams(validParams, "selector", "app in (web,db)"), output: `parameter \"selector\" does not match`},
		{name: "selector adding a requirement", task: rendered[tekton.TaskName("custom-script")], policy: 1, again: 1,
			params: withParams(validParams, "selector", "app=web,tier!=db"), output: `parameter \"selector\" must be one label equality key=value`},
		{name: "selector key prefix over 253 characters", task: rendered[tekton.TaskName("custom-script")], policy: 1, again: 1,
			params: withParams(validParams, "selector", strings.Repeat("abcd.", 51)+"ef/app=web"), output: `parameter \"selector\": key \"abcd.abcd.`},
		{name: "production needs approval (catalogue)", task: rendered[tekton.TaskName("patch-configmap")], again: 1,
			params: withParams(validParams, "target", production), output: "the catalogue requires approval for patch-configmap in production"},
		{name: "missing configuration", task: scale, params: validParams, policy: 2, again: 2, output: "_config.json: no such file",
			policies: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, "_config.json")))
			}},
	}
}

func TestGateStepsEndAsTheContractSays(t *testing.T) {
	for _, tc := range gateCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			policies := policyFiles(t)
			if tc.policies != nil {
				tc.policies(t, policies)
			}
			code, out := runStep(t, tc.task, steps.PolicyGate, tc.params, policies)
			require.Equal(t, tc.policy, code, "policy gate:\n%s", out)
			require.Contains(t, out, tc.output)
			code, out = runStep(t, tc.task, steps.ApprovalGate, tc.params, policies)
			require.Equal(t, tc.again, code, "approval gate:\n%s", out)
		})
	}
}

func overwrite(name, content string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}
