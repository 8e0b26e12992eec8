package check

import (
	"fmt"
	"slices"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/jordigilh/kubernaut-execution/catalogue/steps"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
)

// RuleTaskSteps: each action's Task runs the steps the generator builds for it (tekton.Steps), in run
// order (policy gate, approval gate, dry-run, execute), each with the argv, environment and mounts the
// catalogue gives: no step can be skipped, reordered, turned into a shell or made to continue on error,
// no sidecar runs beside them, and no parameter but run and approval (as "", which names no approval)
// has a default that would decide a run. Images are the release's and are checked by image-pinning.
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
		want := tekton.Steps(a)
		if got, wantNames := stepNames(task.Spec.Steps), stepNames(want); !slices.Equal(got, wantNames) {
			bad("steps %v, want %v: every run passes the policy gate, then approval, then the dry-run, before it executes", got, wantNames)
			continue
		}
		for i, s := range task.Spec.Steps {
			w := want[i]
			// A step that continues on error lets a refusal of the gate (or a failed dry-run) run on.
			if s.OnError != "" && s.OnError != pipelinev1.StopAndFail {
				bad("step %s sets onError: %s: a failing step must stop the run (a refused gate would not)", s.Name, s.OnError)
			}
			if argv, wantArgv := append(slices.Clone(s.Command), s.Args...), append(slices.Clone(w.Command), w.Args...); !slices.Equal(argv, wantArgv) || s.Script != "" {
				bad("step %s runs %q%s, want %q: argv as the catalogue gives it, never a shell", s.Name, argv, scriptNote(s.Script), wantArgv)
			}
			if !equality.Semantic.DeepEqual(nilIfEmpty(s.Env), nilIfEmpty(w.Env)) {
				bad("step %s environment %v, want %v: the gate decides on exactly these values", s.Name, s.Env, w.Env)
			}
			if !equality.Semantic.DeepEqual(nilIfEmpty(s.VolumeMounts), nilIfEmpty(w.VolumeMounts)) {
				bad("step %s mounts %v, want %v", s.Name, s.VolumeMounts, w.VolumeMounts)
			}
		}
	}
	return out
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

func stepNames(steps []pipelinev1.Step) []string {
	names := make([]string, len(steps))
	for i, s := range steps {
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
