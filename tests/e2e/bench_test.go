package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkProvisionRun measures what the controller does per run: create the per-run ServiceAccount
// and its binding, then remove both, as the controller's own ServiceAccount. Reported as p50 and p99
// of each half (run with -benchtime=200x or more); the seed design estimated 500 ms.
func BenchmarkProvisionRun(b *testing.B) {
	installed(b)
	controller := controllerClient(b)
	a, ok := mustCatalogue(b).Action("scale-deployment")
	require.True(b, ok)
	target := "bench-target"
	_, _ = cluster.Client.CoreV1().Namespaces().Create(ctx, nsObject(target), metaCreate)
	var provisionT, removeT []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		r, err := provision(ctx, controller, a, fmt.Sprintf("bench-%d", i), target)
		require.NoError(b, err)
		provisionT = append(provisionT, time.Since(start))
		start = time.Now()
		require.NoError(b, r.remove(ctx, controller))
		removeT = append(removeT, time.Since(start))
	}
	for name, d := range map[string][]time.Duration{"provision": provisionT, "remove": removeT} {
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(d[min(len(d)-1, len(d)*99/100)].Microseconds())/1000, name+"-p99-ms")
	}
}
