// Package jobs builds the Job that runs one catalogue action with the same guarantees as its Tekton
// Task: init containers policy-gate, approval-gate and (unless the action is read-only) dry-run, then
// the execute container, with the very argv, environment and exit codes of the Task's steps (both come
// from package steps). Any failing init container stops the pod before the next one: the gate fails
// closed and nothing touches the cluster before the server-side dry-run passed.
//
// The Job runs in the release namespace under the run's own ServiceAccount (execution/runrbac), with
// only the release's images, the restricted Pod Security Standard, a read-only root filesystem and the
// labels the action NetworkPolicy selects.
package jobs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// Input is one run of an action.
type Input struct {
	// Name of the Job, in the release namespace (a DNS label: the Job controller labels its pods with it).
	Name string
	// ServiceAccount is the run's ServiceAccount (runrbac.ServiceAccountName for kind Job and Name).
	ServiceAccount string
	// Parameters are the action's parameter values, every declared one: the Task declares them all
	// without defaults, so a TaskRun without one is refused too.
	Parameters map[string]string
	// Target is the target context as JSON, exactly the Task's `target` param.
	Target string
	// Run names the ActionRun as "<namespace>/<name>", and Approval its ActionApproval (empty when the
	// run needs none). The approval-gate step reads both with the run's own token and checks them; a
	// run that needs approval and names none, or a wrong one, stops there.
	Run, Approval string
	// RunLabel is the value of the contract's run label on the Job and its pod (Name when empty): the
	// workloads admission policy refuses a Job without it.
	RunLabel string
	// ActiveDeadlineSeconds bounds the run (none when nil). There is no TTL here: a finished Job is
	// kept for the contract's RunRetentionSeconds, the run budget's window, since the budget counts the
	// Jobs in the namespace as the runs of that window; a shorter TTL would let more runs through.
	ActiveDeadlineSeconds *int64
}

// Build returns the Job of one run. It does not check parameter values: the policy gate in the Job
// does, and execution/gate can decide the same before the Job is created.
func Build(c *execution.Contract, a catalogue.Action, in Input) (*batchv1.Job, error) {
	if msgs := validation.IsDNS1123Label(in.Name); len(msgs) > 0 {
		return nil, fmt.Errorf("job name %q: %s", in.Name, strings.Join(msgs, "; "))
	}
	if c.RunRetentionSeconds < 1 {
		return nil, fmt.Errorf("job %s: the contract keeps finished runs for %d seconds: it needs runRetentionSeconds (the run budget's window)", in.Name, c.RunRetentionSeconds)
	}
	if !strings.HasPrefix(in.ServiceAccount, c.RunServiceAccountPrefix) {
		return nil, fmt.Errorf("job %s: ServiceAccount %q is not a per-run ServiceAccount (%s*)", in.Name, in.ServiceAccount, c.RunServiceAccountPrefix)
	}
	if in.RunLabel != "" {
		if msgs := validation.IsValidLabelValue(in.RunLabel); len(msgs) > 0 {
			return nil, fmt.Errorf("job %s: run label %q: %s", in.Name, in.RunLabel, strings.Join(msgs, "; "))
		}
	}
	var missing, unknown []string
	for _, p := range a.Parameters {
		if _, ok := in.Parameters[p.Name]; !ok {
			missing = append(missing, p.Name)
		}
	}
	for name := range in.Parameters {
		if !slices.ContainsFunc(a.Parameters, func(p catalogue.Parameter) bool { return p.Name == name }) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	if len(missing) > 0 || len(unknown) > 0 {
		return nil, fmt.Errorf("job %s: action %s: missing parameter(s) %v, unknown parameter(s) %v", in.Name, a.Name, missing, unknown)
	}
	ref := func(name string) string {
		switch name {
		case steps.TargetParam:
			return in.Target
		case steps.RunParam:
			return in.Run
		case steps.ApprovalParam:
			return in.Approval
		}
		return in.Parameters[name]
	}

	// kubectl's argv refers to the parameters' environment variables, which the kubelet expands: the
	// argv is the action's constant, so admission pins it whole (Argv), and the values are exactly the
	// ones the gate decided on.
	all := steps.BuildWith(a, ref, steps.EnvRef)
	// Every container gets the gate's whole environment (the Task's stepTemplate environment plus the
	// gate's): the workloads admission policy requires it, so that what the gate decided on is what the
	// later containers see.
	env := append(steps.TemplateEnv(), all[0].Env...)
	container := func(s steps.Step) corev1.Container {
		img := c.Images[s.Image]
		sc := steps.SecurityContext()
		sc.RunAsUser, sc.RunAsGroup = c.RunAsUser, c.RunAsGroup
		return corev1.Container{
			Name: s.Name, Image: img.Image, ImagePullPolicy: img.PullPolicy,
			Command: s.Command, Args: s.Args,
			Env:             slices.Clone(env),
			VolumeMounts:    append(steps.TemplateMounts(), s.VolumeMounts...),
			Resources:       *c.Resources.DeepCopy(),
			SecurityContext: sc,
			// The policy gate prints its decision; the reasons reach the Job's status message.
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}
	}
	var inits []corev1.Container
	for _, s := range all[:len(all)-1] {
		inits = append(inits, container(s))
	}
	main := container(all[len(all)-1])

	labels := map[string]string{c.Labels.Action: a.Name}
	for k, v := range c.ActionPodLabels {
		labels[k] = v
	}
	labels[c.Labels.Run] = cmp.Or(in.RunLabel, in.Name)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: in.Name, Namespace: c.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			// One attempt: a retried run would repeat a change that may have half-happened, and a refusal
			// is an answer, not a failure to retry.
			BackoffLimit:            ptr.To[int32](0),
			TTLSecondsAfterFinished: ptr.To(c.RunRetentionSeconds),
			ActiveDeadlineSeconds:   in.ActiveDeadlineSeconds,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           in.ServiceAccount,
					AutomountServiceAccountToken: ptr.To(true), // kubectl calls the API server with it
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              podSecurityContext(c),
					InitContainers:               inits,
					Containers:                   []corev1.Container{main},
					Volumes: []corev1.Volume{
						{Name: steps.PolicyVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: c.PolicyConfigMap}}}},
						{Name: steps.TmpVolume, VolumeSource: steps.TmpVolumeSource()},
					},
				},
			},
		},
	}, nil
}

// Outcome is what a finished Job pod says, read from its container statuses.
type Outcome struct {
	// Step is the step that ended the run: the first that failed, or execute on success.
	Step string
	// ExitCode of that step, and its meaning from the contract ("" on success).
	ExitCode int32
	Meaning  string
	// Message is the step's termination message (its log tail on error).
	Message string
}

// Succeeded reports whether every step passed.
func (o Outcome) Succeeded() bool { return o.Step == steps.Execute && o.ExitCode == 0 }

// OutcomeOf reads the outcome of a finished pod: ok is false while it still runs.
func OutcomeOf(c *execution.Contract, pod *corev1.Pod) (o Outcome, ok bool) {
	for _, st := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		term := st.State.Terminated
		if term == nil {
			return Outcome{}, false
		}
		if term.ExitCode != 0 || st.Name == steps.Execute {
			return Outcome{Step: st.Name, ExitCode: term.ExitCode, Meaning: c.ExitMeaning(st.Name, term.ExitCode), Message: term.Message}, true
		}
	}
	return Outcome{}, false
}

// podSecurityContext is the restricted pod-level settings with the release's IDs.
func podSecurityContext(c *execution.Contract) *corev1.PodSecurityContext {
	sc := steps.PodSecurityContext()
	sc.RunAsUser, sc.RunAsGroup = c.RunAsUser, c.RunAsGroup
	return sc
}

// EnvNames are the names, in order, of the environment every container of an action's Job gets (the
// values are the run's): the workloads admission policy compares them, so no variable (a proxy, a
// kubeconfig) is added and none is left out.
func EnvNames(a catalogue.Action) []string {
	all := steps.BuildWith(a, func(string) string { return "" }, steps.EnvRef)
	var names []string
	for _, e := range append(steps.TemplateEnv(), all[0].Env...) {
		names = append(names, e.Name)
	}
	return names
}

// Argv is every container of an action's Job in run order, each as its name followed by its command
// and args: the same for every run of the action, which the workloads admission policy compares whole
// (generated into the chart from this function).
func Argv(a catalogue.Action) [][]string {
	var out [][]string
	for _, s := range steps.BuildWith(a, func(string) string { return "" }, steps.EnvRef) {
		out = append(out, append(append([]string{s.Name}, s.Command...), s.Args...))
	}
	return out
}
