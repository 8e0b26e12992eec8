// Package tekton builds the Tekton Tasks that run actions, with Tekton's own v1 types: one typed Task
// per catalogue action. (The seed's generic Task, which ran an image the caller chose, is not built:
// its dry-run and execute steps were whatever that image did, outside the gate.) Steps run in order:
// policy gate, approval gate, server-side dry-run (unless the catalogue says the action is read-only),
// execute. No step has a shell: parameters reach opa as environment variables and kubectl as argv
// elements.
//
// Images and the ConfigMap name depend on the release, so the chart's template fills them in: steps
// name their image by role (ImageOPA, ImageKubectl) and the policy volume by PolicyVolume.
package tekton

import (
	"fmt"
	"strings"

	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/gen/policy"
)

// Image roles the chart's template replaces with images from values.
const (
	ImageOPA     = "opa"
	ImageKubectl = "kubectl"
)

// Step names. A controller reads which step failed, and its exit code, from the TaskRun's status:
//
//	policy-gate   exit 1: refused by policy (the decision with its reasons is in the step's log);
//	              exit 2: the policy could not be evaluated (missing or broken policy, evaluation error).
//	approval-gate exit 1: a person must approve; rerun with approved=true once they have.
//
// Any non-zero exit stops the run before the dry-run: the gate fails closed.
const (
	StepPolicyGate   = "policy-gate"
	StepApprovalGate = "approval-gate"
	StepDryRun       = "dry-run"
	StepExecute      = "execute"
)

// Volume and mount paths.
const (
	PolicyVolume = "policies"
	PolicyDir    = "/policies"
	tmpVolume    = "tmp"
)

// taskPrefix names the Tasks.
const taskPrefix = "kubernaut-"

// TaskName is the Task of one catalogue action.
func TaskName(action string) string { return taskPrefix + action }

// Queries the gate steps evaluate. Each is true or fails `opa eval --fail` (exit 1); the gate package
// evaluates its rules with the input built from the step's environment.
const (
	policyQuery   = "data.kubernaut.gate.policy_step == true"
	approvalQuery = "data.kubernaut.gate.approval_step == true"
)

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
	env := []corev1.EnvVar{{Name: "KUBERNAUT_ACTION", Value: a.Name}}
	for _, p := range a.Parameters {
		params = append(params, pipelinev1.ParamSpec{Name: p.Name, Type: pipelinev1.ParamTypeString, Description: describe(p)})
		env = append(env, corev1.EnvVar{Name: "KUBERNAUT_PARAM_" + p.Name, Value: "$(params." + p.Name + ")"})
	}
	params = append(params, contextParams()...)
	env = append(env, contextEnv()...)

	steps := gates(a.Name+".rego", env)
	run := func(name string, extra ...string) pipelinev1.Step {
		return pipelinev1.Step{Name: name, Image: ImageKubectl, Command: a.Command[:1], Args: append(append([]string{}, a.Command[1:]...), extra...)}
	}
	if a.DryRun.Supported {
		steps = append(steps, run(StepDryRun, "--dry-run=server"))
	}
	steps = append(steps, run(StepExecute))

	description := a.Description
	if !a.DryRun.Supported {
		description += " No dry-run step: " + a.DryRun.Reason
	}
	return task(TaskName(a.Name), a.Name, description, params, steps)
}

// contextParams are what the controller passes besides the action's own parameters.
func contextParams() pipelinev1.ParamSpecs {
	return pipelinev1.ParamSpecs{
		{Name: "target", Type: pipelinev1.ParamTypeString, Description: `Target context as JSON: {"environment": "production|staging|development|unknown", "labels": {...}} plus the action's context fields.`},
		{Name: "approved", Type: pipelinev1.ParamTypeString, Description: `"true" once a person approved this run.`, Default: pipelinev1.NewStructuredValues("false")},
	}
}

func contextEnv() []corev1.EnvVar {
	return []corev1.EnvVar{{Name: "KUBERNAUT_TARGET", Value: "$(params.target)"}, {Name: "KUBERNAUT_APPROVED", Value: "$(params.approved)"}}
}

// gates are the two opa steps over the mounted policy ConfigMap: the library, the catalogue data, the
// chart's configuration and the action's own policy file. A missing file is a load error, and a load error denies.
func gates(policyFile string, env []corev1.EnvVar) []pipelinev1.Step {
	args := func(query string) []string {
		out := []string{"eval", "--fail", "--strict-builtin-errors", "--format=pretty"}
		for _, f := range []string{policy.LibKeyPrefix + "lib.rego", policy.LibKeyPrefix + "gate.rego", policy.CatalogueKey, policy.ConfigKey, policyFile} {
			out = append(out, "--data="+PolicyDir+"/"+f)
		}
		return append(out, query)
	}
	mounts := []corev1.VolumeMount{{Name: PolicyVolume, MountPath: PolicyDir, ReadOnly: true}}
	return []pipelinev1.Step{
		{Name: StepPolicyGate, Image: ImageOPA, Command: []string{"/opa"}, Args: args(policyQuery), Env: env, VolumeMounts: mounts},
		{Name: StepApprovalGate, Image: ImageOPA, Command: []string{"/opa"}, Args: args(approvalQuery), Env: env, VolumeMounts: mounts},
	}
}

func task(name, action, description string, params pipelinev1.ParamSpecs, steps []pipelinev1.Step) *pipelinev1.Task {
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
				Env:          []corev1.EnvVar{{Name: "HOME", Value: "/tmp"}, {Name: "KUBECACHEDIR", Value: "/tmp/.kube/cache"}},
				VolumeMounts: []corev1.VolumeMount{{Name: tmpVolume, MountPath: "/tmp"}},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			},
			Steps: steps,
			Volumes: []corev1.Volume{
				{Name: PolicyVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
				{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
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
