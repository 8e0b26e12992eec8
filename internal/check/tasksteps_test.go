package check

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
)

// task-steps reads the catalogue itself, not the step builder that generated the Tasks: it passes the
// Tasks the generator builds, and reports each bug that builder could have, made in its output.
func TestTaskStepsCatchesStepBuilderBugs(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	c := &Checker{opts: Options{Catalogue: cat}}
	const action = "scale-deployment"
	// generated is every Task as the generator builds it, with bug applied to the builder's steps for action.
	generated := func(bug func([]pipelinev1.Step) []pipelinev1.Step) []manifest.Document {
		tasks := tekton.Tasks(cat)
		for _, task := range tasks {
			if task.Name == tekton.TaskName(action) && bug != nil {
				task.Spec.Steps = bug(task.Spec.Steps)
			}
		}
		docs, err := manifest.FromObjects("generated", tasks)
		require.NoError(t, err)
		return docs
	}
	require.Empty(t, c.checkTaskSteps(generated(nil)), "the generator's Tasks are what the catalogue gives")

	without := func(args []string, arg string) []string {
		return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == arg })
	}
	for _, tc := range []struct {
		name string
		bug  func([]pipelinev1.Step) []pipelinev1.Step
		want string
	}{
		{"the policy gate drops --fail: opa exits 0 on a refusal", func(s []pipelinev1.Step) []pipelinev1.Step {
			s[0].Args = without(s[0].Args, "--fail")
			return s
		}, "step policy-gate runs"},
		{"the approval gate loads no token", func(s []pipelinev1.Step) []pipelinev1.Step {
			s[1].Args = without(s[1].Args, "--data="+steps.TokenData+":"+steps.TokenPath)
			return s
		}, "step approval-gate runs"},
		{"the approval gate asks the policy gate's query", func(s []pipelinev1.Step) []pipelinev1.Step {
			s[1].Args[len(s[1].Args)-1] = steps.PolicyQuery
			return s
		}, "step approval-gate runs"},
		{"the gates load another action's policy", func(s []pipelinev1.Step) []pipelinev1.Step {
			for i := range 2 {
				s[i].Args = slices.Clone(s[i].Args)
				for j, a := range s[i].Args {
					s[i].Args[j] = strings.Replace(a, steps.PolicyKey(action), steps.PolicyKey("restart-pod"), 1)
				}
			}
			return s
		}, "step policy-gate runs"},
		{"the dry-run drops --dry-run=server: it runs for real", func(s []pipelinev1.Step) []pipelinev1.Step {
			s[2].Args = without(s[2].Args, steps.DryRunFlag)
			return s
		}, "step dry-run runs"},
		{"execute drops the namespace", func(s []pipelinev1.Step) []pipelinev1.Step {
			s[3].Args = without(s[3].Args, "--namespace=$(params.namespace)")
			return s
		}, "step execute runs"},
		{"a parameter reaches the gate as the target", func(s []pipelinev1.Step) []pipelinev1.Step {
			s[0].Env = slices.Clone(s[0].Env)
			s[0].Env[1].Value = "$(params." + steps.TargetParam + ")"
			return s
		}, "step policy-gate environment"},
		{"the policy ConfigMap is mounted writable", func(s []pipelinev1.Step) []pipelinev1.Step {
			s[1].VolumeMounts = slices.Clone(s[1].VolumeMounts)
			s[1].VolumeMounts[0].ReadOnly = false
			return s
		}, "step approval-gate mounts"},
		{"the dry-run is left out", func(s []pipelinev1.Step) []pipelinev1.Step {
			return slices.Delete(s, 2, 3)
		}, "steps [policy-gate approval-gate execute], want [policy-gate approval-gate dry-run execute]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := c.checkTaskSteps(generated(tc.bug))
			require.NotEmpty(t, got)
			for _, v := range got {
				t.Log(v)
				require.Equal(t, RuleTaskSteps, v.Rule)
				require.Equal(t, tekton.TaskName(action), v.Name, "only the faulty Task")
			}
			require.True(t, slices.ContainsFunc(got, func(v Violation) bool { return strings.Contains(v.Message, tc.want) }), "no violation says %q", tc.want)
		})
	}
}
