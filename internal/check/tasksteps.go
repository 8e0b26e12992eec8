package check

import (
	"fmt"
	"slices"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
)

// RuleTaskSteps: each action's Task runs the steps the generator builds for it (tekton.Steps), in run
// order (policy gate, approval gate, dry-run, execute), each with the argv, environment and mounts the
// catalogue gives: no step can be skipped, reordered, or turned into a shell. Images are the release's
// and are checked by image-pinning.
const RuleTaskSteps = "task-steps"

func (c *Checker) checkTaskSteps(docs []Document) []Violation {
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
		want := tekton.Steps(a)
		if got, wantNames := stepNames(task.Spec.Steps), stepNames(want); !slices.Equal(got, wantNames) {
			bad("steps %v, want %v: every run passes the policy gate, then approval, then the dry-run, before it executes", got, wantNames)
			continue
		}
		for i, s := range task.Spec.Steps {
			w := want[i]
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
