package gate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// policyData is the policy ConfigMap's data as the chart ships it (the generator writes files/policies), with
// the configuration the chart renders from its default values.
func policyData(t testing.TB) map[string]string {
	t.Helper()
	files, err := filepath.Glob("../../charts/kubernaut-execution/files/policies/*")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		out[filepath.Base(f)] = string(data)
	}
	out[steps.ConfigKey] = `{"kubernaut":{"config":{"allowedImageRegistries":[],"protectedNamespaces":["kube-node-lease","kube-public","kube-system","kubernaut-system"]}}}`
	return out
}

const target = `{"environment":"staging","labels":{"app":"web"},"currentReplicas":2}`

func scale(replicas string) gate.Run {
	return gate.Run{Action: "scale-deployment", Target: target,
		Parameters: map[string]string{"namespace": "shop", "deployment": "web", "replicas": replicas}}
}

func TestDecide(t *testing.T) {
	// Through LoadDir, as a controller with the policy ConfigMap mounted would read it.
	dir := t.TempDir()
	for key, content := range policyData(t) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, key), []byte(content), 0o644))
	}
	g, err := gate.LoadDir(dir)
	require.NoError(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		name                   string
		run                    gate.Run
		policy, approval       int
		refusal, needsApproval string
	}{
		{name: "allow", run: scale("3")},
		{name: "refuse", run: func() gate.Run {
			r := scale("0")
			r.Target = `{"environment":"production","labels":{},"currentReplicas":2}`
			return r
		}(),
			policy: 1, refusal: "refusing to scale a production deployment to zero replicas"},
		{name: "approval", run: scale("50"), approval: 1, needsApproval: "large scale-up from 2 to 50 replicas"},
		{name: "approved", run: func() gate.Run { r := scale("50"); r.Approved = true; return r }(), needsApproval: "large scale-up"},
		{name: "flag as a name", run: func() gate.Run { r := scale("3"); r.Parameters["deployment"] = "--all"; return r }(),
			policy: 1, refusal: `parameter "deployment" must not start with "-"`},
		{name: "target not JSON", run: func() gate.Run { r := scale("3"); r.Target = "production"; return r }(),
			policy: 1, refusal: "target context is missing or not an object"},
		{name: "unknown action", run: gate.Run{Action: "reboot-cluster", Target: target}, policy: 2, approval: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := g.Decide(ctx, tc.run)
			if tc.policy == 2 {
				require.ErrorIs(t, err, gate.ErrNotEvaluable)
				require.Contains(t, d.NotEvaluable, "no such file")
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.policy, d.PolicyExit(), "%+v", d)
			require.Equal(t, tc.approval, d.ApprovalExit(), "%+v", d)
			if tc.refusal != "" {
				require.Contains(t, d.Refusals, tc.refusal)
			}
			if tc.needsApproval != "" {
				require.True(t, slices.ContainsFunc(d.ApprovalRequired, func(s string) bool {
					return len(s) >= len(tc.needsApproval) && s[:len(tc.needsApproval)] == tc.needsApproval
				}), "%v", d.ApprovalRequired)
			}
		})
	}
}

// A broken policy is not evaluable for its action only; other actions still decide.
func TestDecideBrokenPolicy(t *testing.T) {
	data := policyData(t)
	data["scale-deployment.rego"] = "package kubernaut.actions.scale_deployment\n\ndeny contains msg if {\n"
	g := gate.New(data)
	d, err := g.Decide(context.Background(), scale("3"))
	require.ErrorIs(t, err, gate.ErrNotEvaluable)
	require.Equal(t, 2, d.PolicyExit())
	require.Contains(t, d.NotEvaluable, "rego_parse_error")
	d, err = g.Decide(context.Background(), gate.Run{Action: "cordon-node", Target: target, Parameters: map[string]string{"node": "worker-1"}})
	require.NoError(t, err)
	require.True(t, d.Allowed)
}

// BenchmarkDecide measures one in-process decision (both gate steps' rules) on a prepared query, with
// p50 and p99 reported; BenchmarkGateDecision in tests/ measures every action against the opa CLI's
// policy-gate step in the same run.
func BenchmarkDecide(b *testing.B) {
	g := gate.New(policyData(b))
	ctx := context.Background()
	run := scale("3")
	_, err := g.Decide(ctx, run) // prepare once, outside the measurement
	require.NoError(b, err)
	measure(b, func() error {
		d, err := g.Decide(ctx, run)
		if err == nil && !d.Allowed {
			err = fmt.Errorf("refused: %+v", d)
		}
		return err
	})
}

// BenchmarkDecideRules breaks BenchmarkDecide down: OPA's fixed cost of one evaluation (a query that
// reads nothing), then the gate's rules one at a time, each with the rules it depends on, on the same
// store and input. The last is the query Decide evaluates. The comparison `!= null` keeps the result's
// conversion to Go values out of the figure.
func BenchmarkDecideRules(b *testing.B) {
	g := gate.New(policyData(b))
	ctx := context.Background()
	input, err := g.Input(scale("3"))
	require.NoError(b, err)
	for _, rule := range []struct{ name, query string }{
		{"overhead", "true"},
		{"spec", "data.kubernaut.gate.spec != null"},
		{"policy", "data.kubernaut.gate.policy != null"},
		{"declared", "data.kubernaut.gate.declared != null"},
		{"parameter_errors", "data.kubernaut.gate.parameter_errors != null"},
		{"target_errors", "data.kubernaut.gate.target_errors != null"},
		{"approval_reasons", "data.kubernaut.gate.approval_reasons != null"},
		{"refusals", "data.kubernaut.gate.refusals != null"},
		{"decision_and_approval", "data.kubernaut.gate.decision != null; {true | data.kubernaut.gate.approval_satisfied} != null"},
	} {
		b.Run(rule.name, func(b *testing.B) {
			query, err := g.PrepareQuery(ctx, "scale-deployment", rule.query)
			require.NoError(b, err)
			measure(b, func() error {
				rs, err := query.Eval(ctx, rego.EvalParsedInput(input))
				if err == nil && len(rs) != 1 {
					err = fmt.Errorf("%s is undefined", rule.name)
				}
				return err
			})
		})
	}
}

// measure times each call of eval and reports the p50 and p99 beside the mean.
func measure(b *testing.B, eval func() error) {
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		err := eval()
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1000, "p50-us")
	b.ReportMetric(float64(times[len(times)*99/100].Nanoseconds())/1000, "p99-us")
}
