// Package steps defines, once, the four steps that run a catalogue action: policy gate, approval gate,
// server-side dry-run and execute, with their argv, environment, mounts and exit codes, the keys of the
// policy ConfigMap the gates load, and the security context of an action pod. They are part of the
// controller's execution contract: the Tekton Task generator (internal/tekton) and the Job builder
// (execution/jobs) both build them here, so a Task step and the matching Job container cannot drift apart:
// they are the same values.
//
// It imports only the catalogue and core/v1-level Kubernetes types, so a controller can use it without
// Tekton or OPA (execution/imports_test.go holds it to that). Parameter values are supplied by a Ref
// function: the Task generator passes Tekton's `$(params.<name>)` references (resolved by Tekton at run
// time), the Job builder the run's values for the gates' environment and references to those
// environment variables for kubectl's argv (BuildWith).
package steps

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/catalogue"
)

// Step names, in run order. A controller reads which step failed, and its exit code, from the TaskRun's
// step states or the Job pod's init container statuses:
//
//	policy-gate   exit 1: refused by policy (the decision with its reasons is in the step's log);
//	              exit 2: the policy could not be evaluated (missing or broken policy, evaluation error).
//	approval-gate exit 1: a person must approve, and no ActionApproval the step read itself (as the
//	              run's own identity) approves this exact run;
//	              exit 2: as for policy-gate, or the API server could not be asked.
//
// Any non-zero exit stops the run before the dry-run: the gate fails closed.
const (
	PolicyGate   = "policy-gate"
	ApprovalGate = "approval-gate"
	DryRun       = "dry-run"
	Execute      = "execute"
)

// Exit codes of the gate steps (opa eval --fail: 1 when the query is not true, 2 on any error).
const (
	ExitRefused       = 1
	ExitNotEvaluable  = 2
	ExitNeedsApproval = 1
)

// Image roles: the chart (or the Job builder, from the execution contract) replaces them with images.
const (
	ImageOPA     = "opa"
	ImageKubectl = "kubectl"
)

// Volumes and mount paths. The policy volume holds the policy ConfigMap; /tmp is an emptyDir because
// the root filesystem is read-only and kubectl writes a cache under HOME.
const (
	PolicyVolume = "policies"
	PolicyDir    = "/policies"
	TmpVolume    = "tmp"
	TmpDir       = "/tmp"
)

// Keys of the policy ConfigMap that cannot clash with an action's `<action>.rego`: action names are DNS
// labels, which never start with "_". internal/policy writes the ConfigMap under these keys.
const (
	LibKeyPrefix = "_"
	LibKey       = LibKeyPrefix + "lib.rego"
	GateKey      = LibKeyPrefix + "gate.rego"
	CatalogueKey = "_catalogue.json"
	// ConfigKey is rendered by the chart from values (protected namespaces, allowed image registries).
	ConfigKey = "_config.json"
)

// PolicyKey is the ConfigMap key of an action's policy.
func PolicyKey(action string) string { return action + ".rego" }

// PolicyKeys are the ConfigMap keys a gate step loads for an action, in the order of its --data flags.
func PolicyKeys(action string) []string {
	return []string{LibKey, GateKey, CatalogueKey, ConfigKey, PolicyKey(action)}
}

// Queries the gate steps evaluate. Each is true or fails `opa eval --fail` (exit 1); the gate library
// evaluates its rules with the input built from the step's environment.
const (
	PolicyQuery   = "data.kubernaut.gate.policy_step == true"
	ApprovalQuery = "data.kubernaut.gate.approval_step == true"
)

// Environment variables the gate reads (policies/lib/gate.rego, runtime_input).
const (
	EnvAction      = "KUBERNAUT_ACTION"
	EnvParamPrefix = "KUBERNAUT_PARAM_"
	EnvTarget      = "KUBERNAUT_TARGET"
	// EnvRun names the ActionRun ("<namespace>/<name>") and EnvApproval its ActionApproval (in the
	// same namespace). They are not trusted: the approval-gate step reads both objects from the API
	// server as the run's identity and checks that they approve exactly what this pod runs.
	EnvRun      = "KUBERNAUT_RUN"
	EnvApproval = "KUBERNAUT_APPROVAL"
)

// Names of the run inputs besides the action's own parameters.
const (
	TargetParam   = "target"
	RunParam      = "run"
	ApprovalParam = "approval"
)

// TokenPath is where the kubelet mounts the pod's ServiceAccount token (the run's own identity). The
// approval-gate step loads it as data.kubernaut.token to read the approval with it; a pod without
// a token cannot load it, and the step fails closed (exit 2).
const (
	TokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	TokenData = "kubernaut.token"
)

// DryRunFlag is appended to the action's argv in the dry-run step.
const DryRunFlag = "--dry-run=server"

// Step is one step of an action run: a Tekton step or a Job container.
type Step struct {
	Name string
	// Image is a role (ImageOPA or ImageKubectl), replaced by an image from the release's values.
	Image        string
	Command      []string
	Args         []string
	Env          []corev1.EnvVar
	VolumeMounts []corev1.VolumeMount
}

// Ref returns the value of a run input as a step sees it: a parameter name, TargetParam, RunParam or
// ApprovalParam.
type Ref func(name string) string

// TektonRef refers to the Task's params; Tekton substitutes them when it creates the TaskRun pod.
func TektonRef(name string) string { return "$(params." + name + ")" }

// EnvRef refers to a parameter's environment variable, which the kubelet expands in a container's
// command and args (and never expands again within the value): a Job's argv is then the same for every
// run of an action, and admission can compare it whole.
func EnvRef(name string) string { return "$(" + EnvParamPrefix + name + ")" }

// Build returns the steps of an action in run order: the gates, the dry-run when the catalogue
// supports it, then execute. Every value of the run reaches opa as an environment variable and kubectl
// as argv elements: nothing is joined into a shell string.
func Build(a catalogue.Action, ref Ref) []Step { return BuildWith(a, ref, ref) }

// BuildWith is Build with the gate's environment values from ref and kubectl's argv from argvRef.
func BuildWith(a catalogue.Action, ref, argvRef Ref) []Step {
	env := []corev1.EnvVar{{Name: EnvAction, Value: a.Name}}
	for _, p := range a.Parameters {
		env = append(env, corev1.EnvVar{Name: EnvParamPrefix + p.Name, Value: ref(p.Name)})
	}
	env = append(env, ContextEnv(ref)...)

	out := Gates(PolicyKey(a.Name), env)
	argv := make([]string, len(a.Command))
	for i, arg := range a.Command {
		argv[i] = catalogue.Substitute(arg, argvRef)
	}
	run := func(name string, extra ...string) Step {
		return Step{Name: name, Image: ImageKubectl, Command: argv[:1], Args: append(append([]string{}, argv[1:]...), extra...)}
	}
	if a.DryRun.Supported {
		out = append(out, run(DryRun, DryRunFlag))
	}
	return append(out, run(Execute))
}

// ContextEnv is the gate's environment besides the action and its parameters.
func ContextEnv(ref Ref) []corev1.EnvVar {
	return []corev1.EnvVar{{Name: EnvTarget, Value: ref(TargetParam)}, {Name: EnvRun, Value: ref(RunParam)},
		{Name: EnvApproval, Value: ref(ApprovalParam)}}
}

// Gates are the two opa steps over the mounted policy ConfigMap: the library, the catalogue data, the
// chart's configuration and the action's own policy file. A missing file is a load error, and a load error denies (exit 2).
// The approval gate also loads the pod's token, with which it reads the ActionRun and ActionApproval.
func Gates(policyFile string, env []corev1.EnvVar) []Step {
	args := func(query string, extra ...string) []string {
		out := []string{"eval", "--fail", "--strict-builtin-errors", "--format=pretty"}
		for _, f := range []string{LibKey, GateKey, CatalogueKey, ConfigKey, policyFile} {
			out = append(out, "--data="+PolicyDir+"/"+f)
		}
		return append(append(out, extra...), query)
	}
	mounts := []corev1.VolumeMount{{Name: PolicyVolume, MountPath: PolicyDir, ReadOnly: true}}
	return []Step{
		{Name: PolicyGate, Image: ImageOPA, Command: []string{"/opa"}, Args: args(PolicyQuery), Env: env, VolumeMounts: mounts},
		{Name: ApprovalGate, Image: ImageOPA, Command: []string{"/opa"}, Args: args(ApprovalQuery, "--data="+TokenData+":"+TokenPath), Env: env, VolumeMounts: mounts},
	}
}

// TemplateEnv is the environment every step gets (Tekton's stepTemplate): HOME and kubectl's cache in
// the /tmp emptyDir, since the root filesystem is read-only.
func TemplateEnv() []corev1.EnvVar {
	return []corev1.EnvVar{{Name: "HOME", Value: TmpDir}, {Name: "KUBECACHEDIR", Value: TmpDir + "/.kube/cache"}}
}

// TmpSizeLimit bounds the /tmp emptyDir of every action pod (kubectl's cache is small); the chart's
// pod templates use the same value (a render test compares them).
const TmpSizeLimit = "64Mi"

// TmpVolumeSource is the /tmp emptyDir of an action pod, Task or Job.
func TmpVolumeSource() corev1.VolumeSource {
	limit := resource.MustParse(TmpSizeLimit)
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}
}

// TemplateMounts are the mounts every step gets.
func TemplateMounts() []corev1.VolumeMount {
	return []corev1.VolumeMount{{Name: TmpVolume, MountPath: TmpDir}}
}

// PodSecurityContext is the pod-level part of the restricted Pod Security Standard every pod of the
// bundle carries (the controller's, each Job's); runAsUser and runAsGroup are the release's.
func PodSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// SecurityContext is every step's container securityContext: the restricted Pod Security Standard at
// container level and a read-only root filesystem. runAsUser is left to the release (OpenShift's
// restricted-v2 SCC assigns one).
func SecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
