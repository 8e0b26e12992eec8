package jobs_test

import (
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

func contract(t *testing.T) *execution.Contract {
	t.Helper()
	data, err := os.ReadFile("../../kustomize/base/configmap-kubernaut-execution-execution-contract.yaml")
	require.NoError(t, err)
	var cm corev1.ConfigMap
	require.NoError(t, yaml.Unmarshal(data, &cm))
	c, err := execution.Parse(cm.Data)
	require.NoError(t, err)
	return c
}

func TestBuildOrderAndValues(t *testing.T) {
	c := contract(t)
	cat, err := catalogue.Default()
	require.NoError(t, err)
	a, _ := cat.Action("scale-deployment")
	job, err := jobs.Build(c, a, jobs.Input{Name: "run-1", ServiceAccount: c.RunServiceAccountPrefix + "run-1-0123456789",
		Parameters: map[string]string{"namespace": "shop", "deployment": "web", "replicas": "--all"}, Target: "{}", Run: "shop/scale-web", Approval: "scale-web-ok"})
	require.NoError(t, err)
	spec := job.Spec.Template.Spec
	var names []string
	for _, c := range spec.InitContainers {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"policy-gate", "approval-gate", "dry-run"}, names)
	require.Equal(t, "execute", spec.Containers[0].Name)
	// The argv refers to the parameters' environment variables, which the kubelet expands within each
	// element: "--all" is part of one element, never its own flag, and the argv is the same for every run.
	require.Equal(t, []string{"patch", "deployment/$(KUBERNAUT_PARAM_deployment)", "--namespace=$(KUBERNAUT_PARAM_namespace)", "--type=merge",
		`--patch={"spec":{"replicas":$(KUBERNAUT_PARAM_replicas)}}`, "--dry-run=server"}, spec.InitContainers[2].Args)
	require.Equal(t, jobs.Argv(a)[2][1:], append(slices.Clone(spec.InitContainers[2].Command), spec.InitContainers[2].Args...), "Argv is what Build runs")
	require.Equal(t, []string{"kubectl"}, spec.Containers[0].Command)
	env := map[string]string{}
	for _, e := range spec.InitContainers[0].Env {
		env[e.Name] = e.Value
	}
	require.Equal(t, "shop/scale-web", env["KUBERNAUT_RUN"])
	require.Equal(t, "scale-web-ok", env["KUBERNAUT_APPROVAL"], "where the approval-gate step reads the approval")
	require.NotContains(t, env, "KUBERNAUT_APPROVED", "a Job cannot say it is approved")
	require.Equal(t, "--all", env["KUBERNAUT_PARAM_replicas"], "the gate sees the value and refuses it")
	require.Equal(t, c.Images[steps.ImageOPA].Image, spec.InitContainers[0].Image)
	require.Equal(t, c.Images[steps.ImageKubectl].Image, spec.Containers[0].Image)
}

// A finished Job is kept for the contract's run retention, the run budget's window: the budget counts
// the Jobs present as the runs of that window. A contract without one builds no Job.
func TestBuildKeepsTheJobForTheWindow(t *testing.T) {
	c := contract(t)
	cat, err := catalogue.Default()
	require.NoError(t, err)
	a, _ := cat.Action("verify-deployment")
	params := map[string]string{} // Build leaves values to the gate
	for _, p := range a.Parameters {
		params[p.Name] = "1"
	}
	in := jobs.Input{Name: "run-1", ServiceAccount: c.RunServiceAccountPrefix + "run-1-0123456789", Parameters: params, Target: "{}"}
	c.RunRetentionSeconds = 600
	job, err := jobs.Build(c, a, in)
	require.NoError(t, err)
	require.Equal(t, int32(600), *job.Spec.TTLSecondsAfterFinished)
	c.RunRetentionSeconds = 0
	_, err = jobs.Build(c, a, in)
	require.ErrorContains(t, err, "runRetentionSeconds")
}

func TestOutcomeOf(t *testing.T) {
	c := contract(t)
	term := func(name string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: name + " said"}}}
	}
	running := corev1.ContainerStatus{Name: "dry-run", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	for _, tc := range []struct {
		name    string
		inits   []corev1.ContainerStatus
		main    []corev1.ContainerStatus
		done    bool
		want    jobs.Outcome
		success bool
	}{
		{"refused", []corev1.ContainerStatus{term("policy-gate", 1)}, nil, true, jobs.Outcome{Step: "policy-gate", ExitCode: 1, Meaning: "refused by policy", Message: "policy-gate said"}, false},
		{"needs approval", []corev1.ContainerStatus{term("policy-gate", 0), term("approval-gate", 1)}, nil, true, jobs.Outcome{Step: "approval-gate", ExitCode: 1, Meaning: "approval required", Message: "approval-gate said"}, false},
		{"still running", []corev1.ContainerStatus{term("policy-gate", 0), term("approval-gate", 0), running}, nil, false, jobs.Outcome{}, false},
		{"succeeded", []corev1.ContainerStatus{term("policy-gate", 0), term("approval-gate", 0), term("dry-run", 0)}, []corev1.ContainerStatus{term("execute", 0)}, true,
			jobs.Outcome{Step: "execute", Message: "execute said"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, done := jobs.OutcomeOf(c, &corev1.Pod{Status: corev1.PodStatus{InitContainerStatuses: tc.inits, ContainerStatuses: tc.main}})
			require.Equal(t, tc.done, done)
			require.Equal(t, tc.want, o)
			require.Equal(t, tc.success, o.Succeeded())
		})
	}
}
