package tests

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"

	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// gateRun is the run a Task's params describe, as execution/gate takes it.
func gateRun(task *pipelinev1.Task, params map[string]string) gate.Run {
	// Never approved: the CLI's approval-gate step reads approvals from an API server, which these runs
	// name none of; a Task run that says approved=true is not.
	r := gate.Run{Target: params["target"], Parameters: map[string]string{}}
	r.Action = strings.TrimPrefix(task.Name, "kubernaut-")
	for _, p := range task.Spec.Params {
		if p.Name != steps.TargetParam && p.Name != steps.RunParam && p.Name != steps.ApprovalParam {
			r.Parameters[p.Name] = params[p.Name]
		}
	}
	return r
}

// Decide agrees with the in-pod gate on every case of the gate's test table: the same exit code for
// both steps as the opa CLI running the rendered Task's steps, and the reason the step logs.
func TestDecideAgreesWithTheGateSteps(t *testing.T) {
	for _, tc := range gateCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			dir := policyFiles(t)
			if tc.policies != nil {
				tc.policies(t, dir)
			}
			policy, policyOut := runStep(t, tc.task, steps.PolicyGate, tc.params, dir)
			approval, _ := runStep(t, tc.task, steps.ApprovalGate, tc.params, dir)
			require.Equal(t, tc.policy, policy, "the table still describes the CLI")

			d, err := gate.New(readPolicyDir(t, dir)).Decide(context.Background(), gateRun(tc.task, tc.params))
			require.Equal(t, policy, d.PolicyExit(), "policy gate: Decide %+v, CLI:\n%s", d, policyOut)
			require.Equal(t, approval, d.ApprovalExit(), "approval gate: Decide %+v", d)
			want := strings.ReplaceAll(tc.output, `\"`, `"`)
			switch {
			case policy == steps.ExitNotEvaluable:
				require.ErrorIs(t, err, gate.ErrNotEvaluable)
				require.Contains(t, d.NotEvaluable, want)
			case want == `"allowed": true`:
				require.NoError(t, err)
				require.True(t, d.Allowed)
			default:
				require.NoError(t, err)
				require.Contains(t, strings.Join(append(d.Refusals, d.ApprovalRequired...), "\n"), want)
			}
		})
	}
}
