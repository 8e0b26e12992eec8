package check

import (
	"fmt"
	"slices"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
)

// RuleTaskSteps: each action's Task runs the steps its catalogue entry gives, in run order (policy
// gate, approval gate, dry-run, execute), each with the argv, environment and mounts read from the
// catalogue here (wantSteps), not taken from the step builder that generated the Task, so a bug in
// that builder is caught: no step can be skipped, reordered, turned into a shell or made to continue on
// error, no sidecar runs beside them, and no parameter but run and approval (as "", which names no
// approval) has a default that would decide a run. Images are the release's and are checked by
// image-pinning.
const RuleTaskSteps = "task-steps"

func (c *Checker) checkTaskSteps(docs []manifest.Document) []Violation {
	var out []Violation
	for _, d := range docs {
		if d.Kind() != "Task" || !strings.HasPrefix(d.Name(), execution.DefaultTaskPrefix) {
			continue
		}
		bad := func(format string, args ...any) {
			out = append(out, violationOf(RuleTaskSteps, d, fmt.Sprintf(format, args...)))
		}
		action := strings.TrimPrefix(d.Name(), execution.DefaultTaskPrefix)
		a, ok := c.opts.Catalogue.Action(action)
		if !ok {
			bad("no catalogue action %q: a Task the catalogue does not define runs outside the gate's knowledge", action)
			continue
		}
		var task pipelinev1.Task
		if err := decode(d.Object, &task); err != nil {
			bad("not a Tekton Task: %v", err)
			continue
		}
		// Nothing but the contract's steps runs in a run's pod: a sidecar would run beside the gate.
		if len(task.Spec.Sidecars) > 0 {
			bad("sidecars %v: nothing but the policy gate, approval, dry-run and execute steps may run in a run's pod", stepNames(stepsOf(task.Spec.Sidecars)))
		}
		// A default decides the run of a caller that leaves the parameter out: only "no approval named"
		// may be one.
		for _, p := range task.Spec.Params {
			if p.Default == nil || (p.Name == steps.RunParam || p.Name == steps.ApprovalParam) && p.Default.StringVal == "" && p.Default.Type == pipelinev1.ParamTypeString {
				continue
			}
			bad("parameter %s defaults to %q: a run that leaves it out would be decided by the default, not by its caller and the gate", p.Name, p.Default.StringVal)
		}
		want := wantSteps(a)
		if got, wantNames := stepNames(task.Spec.Steps), wantNames(want); !slices.Equal(got, wantNames) {
			bad("steps %v, want %v: every run passes the policy gate, then approval, then the dry-run, before it executes", got, wantNames)
			continue
		}
		for i, s := range task.Spec.Steps {
			w := want[i]
			// A step that continues on error lets a refusal of the gate (or a failed dry-run) run on.
			if s.OnError != "" && s.OnError != pipelinev1.StopAndFail {
				bad("step %s sets onError: %s: a failing step must stop the run (a refused gate would not)", s.Name, s.OnError)
			}
			if argv := append(slices.Clone(s.Command), s.Args...); !slices.Equal(argv, w.argv) || s.Script != "" {
				bad("step %s runs %q%s, want %q: argv as the catalogue gives it, never a shell", s.Name, argv, scriptNote(s.Script), w.argv)
			}
			if !equality.Semantic.DeepEqual(nilIfEmpty(s.Env), nilIfEmpty(w.env)) {
				bad("step %s environment %v, want %v: the gate decides on exactly these values", s.Name, s.Env, w.env)
			}
			if !equality.Semantic.DeepEqual(nilIfEmpty(s.VolumeMounts), nilIfEmpty(w.mounts)) {
				bad("step %s mounts %v, want %v", s.Name, s.VolumeMounts, w.mounts)
			}
		}
	}
	return out
}

// wantStep is one step of an action's Task as the catalogue gives it.
type wantStep struct {
	name   string
	argv   []string
	env    []corev1.EnvVar
	mounts []corev1.VolumeMount
}

// wantSteps reads an action's steps from its catalogue entry, without package steps' Build: the
// vocabulary (step names, variables, ConfigMap keys, paths, queries) is package steps', the flags and
// how the steps are put together are written out here.
//
//   - Both gates run `opa eval --fail --strict-builtin-errors` (exit 1 unless the query is true, 2 on
//     any error) over every policy file of the action in the mounted policy ConfigMap, in the order of
//     steps.PolicyKeys; the approval gate also loads the pod's token. They see the action, each
//     parameter, and the run inputs (target, run, approval) as environment variables, in that order.
//   - The dry-run and execute steps run the catalogue's command as written, the dry-run with
//     --dry-run=server appended: Tekton substitutes its $(params.<name>) references, which are the
//     Task's params, within each element.
func wantSteps(a catalogue.Action) []wantStep {
	param := func(name string) string { return "$(params." + name + ")" }
	env := []corev1.EnvVar{{Name: steps.EnvAction, Value: a.Name}}
	for _, p := range a.Parameters {
		env = append(env, corev1.EnvVar{Name: steps.EnvParamPrefix + p.Name, Value: param(p.Name)})
	}
	env = append(env,
		corev1.EnvVar{Name: steps.EnvTarget, Value: param(steps.TargetParam)},
		corev1.EnvVar{Name: steps.EnvRun, Value: param(steps.RunParam)},
		corev1.EnvVar{Name: steps.EnvApproval, Value: param(steps.ApprovalParam)})
	opa := func(last ...string) []string {
		argv := []string{"/opa", "eval", "--fail", "--strict-builtin-errors", "--format=pretty"}
		for _, key := range steps.PolicyKeys(a.Name) {
			argv = append(argv, "--data="+steps.PolicyDir+"/"+key)
		}
		return append(argv, last...)
	}
	policies := []corev1.VolumeMount{{Name: steps.PolicyVolume, MountPath: steps.PolicyDir, ReadOnly: true}}
	out := []wantStep{
		{name: steps.PolicyGate, argv: opa(steps.PolicyQuery), env: env, mounts: policies},
		{name: steps.ApprovalGate, argv: opa("--data="+steps.TokenData+":"+steps.TokenPath, steps.ApprovalQuery), env: env, mounts: policies},
	}
	if a.DryRun.Supported {
		out = append(out, wantStep{name: steps.DryRun, argv: append(slices.Clone(a.Command), "--dry-run=server")})
	}
	return append(out, wantStep{name: steps.Execute, argv: slices.Clone(a.Command)})
}

func wantNames(want []wantStep) []string {
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = w.name
	}
	return names
}

func scriptNote(script string) string {
	if script == "" {
		return ""
	}
	return " with a script"
}

// stepsOf names sidecars as steps are named.
func stepsOf(sidecars []pipelinev1.Sidecar) []pipelinev1.Step {
	out := make([]pipelinev1.Step, len(sidecars))
	for i, s := range sidecars {
		out[i] = pipelinev1.Step{Name: s.Name}
	}
	return out
}

func stepNames(taskSteps []pipelinev1.Step) []string {
	names := make([]string, len(taskSteps))
	for i, s := range taskSteps {
		names[i] = s.Name
	}
	return names
}

// nilIfEmpty lets an absent list equal an empty one.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
