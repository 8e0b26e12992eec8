package tests

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// tasks returns the Tasks of a render, decoded into Tekton's own type.
func tasks(t testing.TB, docs []manifest.Document) map[string]*pipelinev1.Task {
	t.Helper()
	out := map[string]*pipelinev1.Task{}
	for _, d := range docs {
		if d.Kind() != "Task" {
			continue
		}
		var task pipelinev1.Task
		require.NoError(t, yaml.UnmarshalStrict(d.YAML, &task), d.Name())
		out[task.Name] = &task
	}
	return out
}

func defaultRender(t testing.TB) []manifest.Document {
	t.Helper()
	docs, err := renderWith(t, render.NewestKubernetes, readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml")))
	require.NoError(t, err)
	return docs
}

// Every rendered Task passes Tekton's own defaulting and validation, and has the shape the contract
// gives: gates first, a dry-run unless the catalogue says the action is read-only, then execute.
func TestTasksPassTektonValidation(t *testing.T) {
	cat := testenv.Catalogue(t)
	rendered := tasks(t, defaultRender(t))
	require.Len(t, rendered, len(cat.Actions))
	ctx := context.Background()
	for name, task := range rendered {
		task.SetDefaults(ctx)
		// Validate returns *apis.FieldError: compare the pointer, a nil one is not a nil error.
		if fe := task.Validate(ctx); fe != nil {
			t.Fatalf("%s: %v", name, fe)
		}
		require.Equal(t, "action", task.Labels["app.kubernetes.io/component"], "%s: TaskRun pods must carry the label the action NetworkPolicy selects", name)
		for _, a := range []string{"tekton.dev/pipelines.minVersion", "tekton.dev/categories", "tekton.dev/tags", "tekton.dev/displayName", "tekton.dev/platforms"} {
			require.NotEmpty(t, task.Annotations[a], "%s lacks %s", name, a)
		}
		require.NotEmpty(t, task.Labels["app.kubernetes.io/version"])
	}
	for _, a := range cat.Actions {
		task := rendered[tekton.TaskName(a.Name)]
		require.NotNil(t, task, a.Name)
		var names []string
		for _, s := range task.Spec.Steps {
			names = append(names, s.Name)
			require.Empty(t, s.Script, "%s/%s: no shell scripts", a.Name, s.Name)
		}
		want := []string{steps.PolicyGate, steps.ApprovalGate, steps.DryRun, steps.Execute}
		if !a.DryRun.Supported {
			want = []string{steps.PolicyGate, steps.ApprovalGate, steps.Execute}
		}
		require.Equal(t, want, names, a.Name)
		execute := task.Spec.Steps[len(names)-1]
		require.Equal(t, a.Command, append(execute.Command, execute.Args...), "%s runs the catalogue's argv", a.Name)
	}
}

// Tekton's validation can fail: a step reading a parameter the Task does not declare.
func TestTektonValidationRejectsUndeclaredParameter(t *testing.T) {
	task := tasks(t, defaultRender(t))[tekton.TaskName("scale-deployment")]
	task.Spec.Steps[len(task.Spec.Steps)-1].Args = append(task.Spec.Steps[len(task.Spec.Steps)-1].Args, "--selector=$(params.missing)")
	ctx := context.Background()
	task.SetDefaults(ctx)
	fe := task.Validate(ctx)
	require.NotNil(t, fe)
	require.True(t, strings.Contains(fe.Error(), `non-existent variable in "--selector=$(params.missing)"`), fe.Error())
}
