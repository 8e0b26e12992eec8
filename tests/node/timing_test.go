//go:build node

package node

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// BenchmarkTaskRun runs one action's TaskRun per iteration (-benchtime 5x for five) and reports the
// p50 of each phase in seconds: create to completion, pod start (created to first step started), gate
// steps, dry-run, execute, and the controller's provisioning plus teardown, also as a share of the
// whole run. Step times come from the kubelet with one-second resolution.
func BenchmarkTaskRun(b *testing.B) {
	installed(b)
	a := testenv.Action(b, "scale-deployment")
	ns := targetNamespace(b, "timing")
	deploy(b, ns, "web", appImage("v1"), 1)
	var total, podStart, gates, dryRun, execute, overhead []time.Duration
	var share []float64
	i := 0
	for b.Loop() {
		params := map[string]string{"namespace": ns, "deployment": "web", "replicas": strconv.Itoa(1 + i%3),
			"target": target("staging", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 1})}
		i++
		start := time.Now()
		r := runTask(b, a, ns, params)
		require.Equal(b, "True", r.Status, "%s", r)
		whole := time.Since(start)
		first := r.step(steps.PolicyGate).Started
		total = append(total, r.Completed.Sub(r.Created))
		podStart = append(podStart, first.Sub(r.Created))
		gates = append(gates, r.step(steps.ApprovalGate).Finished.Sub(first))
		dryRun = append(dryRun, r.step(steps.DryRun).Finished.Sub(r.step(steps.DryRun).Started))
		execute = append(execute, r.step(steps.Execute).Finished.Sub(r.step(steps.Execute).Started))
		overhead = append(overhead, r.Provision+r.Teardown)
		share = append(share, float64(r.Provision+r.Teardown)/float64(whole))
	}
	p50 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return d[len(d)/2].Seconds()
	}
	slices.Sort(share)
	b.ReportMetric(p50(total), "total-p50-s")
	b.ReportMetric(p50(podStart), "pod-start-p50-s")
	b.ReportMetric(p50(gates), "gates-p50-s")
	b.ReportMetric(p50(dryRun), "dry-run-p50-s")
	b.ReportMetric(p50(execute), "execute-p50-s")
	b.ReportMetric(p50(overhead), "provision+teardown-p50-s")
	b.ReportMetric(100*share[len(share)/2], "provision+teardown-%")
}
