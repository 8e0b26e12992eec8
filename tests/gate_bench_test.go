package tests

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// BenchmarkGateDecision measures, for each action on the rendered ConfigMap's files, one in-process
// decision of execution/gate (both gate steps' rules on a prepared query: what a controller embedding
// the gate pays per run) and, in the same run, the policy-gate step as the Task runs it (a fresh opa
// process that loads the policy files and decides, cliRuns times). It reports the decision's p50 and
// p99 and cli-x, the step's p50 over the decision's.
func BenchmarkGateDecision(b *testing.B) {
	dir := policyFiles(b)
	g := gate.New(readPolicyDir(b, dir))
	rendered := tasks(b, defaultRender(b))
	ctx := context.Background()
	for _, a := range testenv.Catalogue(b).Actions {
		task, params := rendered[tekton.TaskName(a.Name)], paramsFor(a.Name)
		run := gateRun(task, params)
		b.Run(a.Name, func(b *testing.B) {
			var cli []time.Duration
			for range cliRuns {
				start := time.Now()
				code, out := runStep(b, task, steps.PolicyGate, params, dir)
				cli = append(cli, time.Since(start))
				require.Equal(b, 0, code, "policy gate: %s", out)
			}
			_, err := g.Decide(ctx, run) // prepare once, outside the measurement
			require.NoError(b, err)
			var times []time.Duration
			for b.Loop() {
				start := time.Now()
				d, err := g.Decide(ctx, run)
				times = append(times, time.Since(start))
				if err != nil || !d.Allowed {
					b.Fatalf("decision: %+v %v", d, err)
				}
			}
			p50 := percentile(times, 50)
			b.ReportMetric(float64(p50.Nanoseconds())/1000, "p50-us")
			b.ReportMetric(float64(percentile(times, 99).Nanoseconds())/1000, "p99-us")
			b.ReportMetric(float64(percentile(cli, 50))/float64(p50), "cli-x")
		})
	}
}

// cliRuns is how many times BenchmarkGateDecision runs the policy-gate step per action.
const cliRuns = 5

// percentile is the q-th percentile of times, which it sorts.
func percentile(times []time.Duration, q int) time.Duration {
	slices.Sort(times)
	return times[len(times)*q/100]
}

// BenchmarkGateStepCLI measures one policy-gate step as the Task runs it: a fresh opa process that
// loads the policy files and decides.
func BenchmarkGateStepCLI(b *testing.B) {
	dir := policyFiles(b)
	task := tasks(b, defaultRender(b))[tekton.TaskName("scale-deployment")]
	for b.Loop() {
		if code, out := runStep(b, task, steps.PolicyGate, validParams, dir); code != 0 {
			b.Fatalf("policy gate exited %d: %s", code, out)
		}
	}
}
