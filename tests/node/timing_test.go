package node

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jordigilh/kubernaut-execution/internal/tekton"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// TaskRun wall time of one action, repeated (KUBERNAUT_NODE_REPEAT, default 5), as p50 per phase:
// create to completion, pod start (created to first step started), gate steps, dry-run, execute, and
// the controller's provisioning plus teardown as a share of the whole run. Step times come from the
// kubelet with one-second resolution.
func TestTaskRunTimings(t *testing.T) {
	installed(t)
	n := 5
	if v, err := strconv.Atoi(os.Getenv("KUBERNAUT_NODE_REPEAT")); err == nil && v > 0 {
		n = v
	}
	a := testenv.Action(t, "scale-deployment")
	ns := targetNamespace(t, "timing")
	deploy(t, ns, "web", appImage("v1"), 1)
	var total, podStart, gates, dryRun, execute, overhead []time.Duration
	var share []float64
	for i := range n {
		params := map[string]string{"namespace": ns, "deployment": "web", "replicas": strconv.Itoa(1 + i%3),
			"target": target("staging", map[string]string{"app": "web"}, map[string]any{"currentReplicas": 1})}
		start := time.Now()
		r := runTask(t, a, ns, params)
		if r.Status != "True" {
			t.Fatalf("%s", r)
		}
		whole := time.Since(start)
		first := r.step(tekton.StepPolicyGate).Started
		total = append(total, r.Completed.Sub(r.Created))
		podStart = append(podStart, first.Sub(r.Created))
		gates = append(gates, r.step(tekton.StepApprovalGate).Finished.Sub(first))
		dryRun = append(dryRun, r.step(tekton.StepDryRun).Finished.Sub(r.step(tekton.StepDryRun).Started))
		execute = append(execute, r.step(tekton.StepExecute).Finished.Sub(r.step(tekton.StepExecute).Started))
		overhead = append(overhead, r.Provision+r.Teardown)
		share = append(share, float64(r.Provision+r.Teardown)/float64(whole))
	}
	p50 := func(d []time.Duration) string {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2].String()
	}
	sort.Float64s(share)
	printTable(t, []string{"ACTION", "RUNS", "TOTAL p50", "POD START p50", "GATES p50", "DRY-RUN p50", "EXECUTE p50", "PROVISION+TEARDOWN p50"},
		[][]string{{a.Name, strconv.Itoa(n), p50(total), p50(podStart), p50(gates), p50(dryRun), p50(execute),
			fmt.Sprintf("%s (%.1f%% of the run)", p50(overhead), 100*share[len(share)/2])}})
}
