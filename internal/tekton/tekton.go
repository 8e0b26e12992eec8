// Package tekton builds the Tekton Tasks that run actions, with Tekton's own v1 types: one typed Task
// per catalogue action. (The seed's generic Task, which ran an image the caller chose, is not built:
// its dry-run and execute steps were whatever that image did, outside the gate.) Steps run in order:
// policy gate, approval gate, server-side dry-run (unless the catalogue says the action is read-only),
// execute. No step has a shell: parameters reach opa as environment variables and kubectl as argv
// elements.
//
// Images and the ConfigMap name depend on the release, so the chart's template fills them in: steps
// name their image by role (steps.ImageOPA, steps.ImageKubectl) and the policy volume by
// steps.PolicyVolume. Package execution/steps defines the steps, their names and exit codes once, for
// the Tasks here and for the Jobs of execution/jobs.
package tekton

import (
	"fmt"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// TaskName is the Task of one catalogue action, named as the execution contract says.
func TaskName(action string) string { return execution.DefaultTaskPrefix + action }

// MinPipelinesVersion is the oldest Tekton Pipelines with the v1 Task API and stepTemplate as used here.
const MinPipelinesVersion = "0.50.0"

// Tasks returns one Task per action, sorted by name.
func Tasks(cat *catalogue.Catalogue) []*pipelinev1.Task {
	tasks := make([]*pipelinev1.Task, 0, len(cat.Actions))
	for _, a := range cat.Actions {
		tasks = append(tasks, forAction(a))
	}
	return tasks
}

func forAction(a catalogue.Action) *pipelinev1.Task {
	params := make(pipelinev1.ParamSpecs, 0, len(a.Parameters)+2)
	for _, p := range a.Parameters {
		params = append(params, pipelinev1.ParamSpec{Name: p.Name, Type: pipelinev1.ParamTypeString, Description: describe(p)})
	}
	params = append(params, contextParams()...)
	taskSteps := Steps(a)

	description := a.Description
	if !a.DryRun.Supported {
		description += " No dry-run step: " + a.DryRun.Reason
	}
	return task(TaskName(a.Name), a.Name, description, params, taskSteps)
}

// contextParams are what the controller passes besides the action's own parameters.
func contextParams() pipelinev1.ParamSpecs {
	return pipelinev1.ParamSpecs{
		{Name: steps.TargetParam, Type: pipelinev1.ParamTypeString, Description: `Target context as JSON: {"environment": "production|staging|development|unknown", "labels": {...}} plus the action's context fields.`},
		{Name: steps.RunParam, Type: pipelinev1.ParamTypeString, Description: `The ActionRun as "<namespace>/<name>": the approval-gate step reads it, and its approval, as the run's own identity.`, Default: pipelinev1.NewStructuredValues("")},
		{Name: steps.ApprovalParam, Type: pipelinev1.ParamTypeString, Description: `The ActionApproval of the run, in its namespace: a run that needs approval goes ahead only when the approval-gate step finds it approves exactly this run.`, Default: pipelinev1.NewStructuredValues("")},
	}
}

// Steps are an action's Task steps: package steps' steps with Tekton param references as values (the
// same argv, environment and exit codes as the Jobs execution/jobs builds with literal values), field
// for field; images are roles, which the chart replaces.
func Steps(a catalogue.Action) []pipelinev1.Step {
	in := steps.Build(a, steps.TektonRef)
	out := make([]pipelinev1.Step, 0, len(in))
	for _, s := range in {
		out = append(out, pipelinev1.Step{Name: s.Name, Image: s.Image, Command: s.Command, Args: s.Args, Env: s.Env, VolumeMounts: s.VolumeMounts})
	}
	return out
}

func task(name, action, description string, params pipelinev1.ParamSpecs, taskSteps []pipelinev1.Step) *pipelinev1.Task {
	return &pipelinev1.Task{
		TypeMeta: metav1.TypeMeta{APIVersion: pipelinev1.SchemeGroupVersion.String(), Kind: "Task"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Annotations: map[string]string{
				"tekton.dev/pipelines.minVersion": MinPipelinesVersion,
				"tekton.dev/categories":           "Kubernetes",
				"tekton.dev/tags":                 strings.Join([]string{"kubernaut", "remediation", action}, ", "),
				"tekton.dev/displayName":          fmt.Sprintf("Kubernaut %s", action),
				"tekton.dev/platforms":            "linux/amd64,linux/arm64",
			},
		},
		Spec: pipelinev1.TaskSpec{
			Description: description,
			Params:      params,
			// Every step: the restricted Pod Security Standard at container level (Tekton's
			// set-security-context flag does the same for the containers Tekton injects), a read-only root
			// filesystem and HOME in a /tmp emptyDir for kubectl's cache.
			StepTemplate: &pipelinev1.StepTemplate{
				Env:             steps.TemplateEnv(),
				VolumeMounts:    steps.TemplateMounts(),
				SecurityContext: steps.SecurityContext(),
			},
			Steps: taskSteps,
			Volumes: []corev1.Volume{
				{Name: steps.PolicyVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: steps.TmpVolume, VolumeSource: steps.TmpVolumeSource()},
			},
		},
	}
}

// describe is a parameter's description with its type and constraints, since Tekton params are strings.
func describe(p catalogue.Parameter) string {
	var c []string
	if p.Pattern != "" {
		c = append(c, "pattern "+p.Pattern)
	}
	if p.Minimum != nil {
		c = append(c, fmt.Sprintf("minimum %d", *p.Minimum))
	}
	if p.Maximum != nil {
		c = append(c, fmt.Sprintf("maximum %d", *p.Maximum))
	}
	if len(p.Enum) > 0 {
		c = append(c, "one of "+strings.Join(p.Enum, ", "))
	}
	s := p.Description + " (" + p.Type
	if len(c) > 0 {
		s += "; " + strings.Join(c, "; ")
	}
	return s + "; checked by the policy gate)"
}
