//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

func percentiles(b *testing.B, name string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(d[min(len(d)-1, len(d)*99/100)].Microseconds())/1000, name+"-p99-ms")
}

// benchManager is a Manager as the controller's ServiceAccount, with a client whose own rate limit
// (client-go's default is 5 QPS) is high enough not to be what is measured, and a count of retried
// transient errors (429 throttling among them).
func benchManager(b *testing.B) (*runrbac.Manager, *atomic.Int64) {
	c := contract(b) // installs the release, and with it the controller's ServiceAccount
	token, err := cluster.Token(context.Background(), releaseNS, controllerSA)
	require.NoError(b, err)
	cfg := *cluster.Config
	cfg.BearerToken, cfg.QPS, cfg.Burst = token, 1000, 2000
	client, err := kubernetes.NewForConfig(&cfg)
	require.NoError(b, err)
	m := runrbac.New(client, c)
	var retried atomic.Int64
	m.Retried = func(error) { retried.Add(1) }
	return m, &retried
}

// BenchmarkRunRBAC measures the per-run RBAC lifecycle as the controller's ServiceAccount on the real
// API server, through package runrbac: Provision (RoleBinding, then the ServiceAccount owned by the run)
// and Teardown, p50 and p99 (run with -benchtime 300x or more). Each run's owner Job is made outside
// the timings.
func BenchmarkRunRBAC(b *testing.B) {
	m, retried := benchManager(b)
	a, ok := testenv.Catalogue(b).Action("scale-deployment")
	require.True(b, ok)
	ctx := context.Background()
	target := "bench-runrbac"
	_, _ = cluster.Client.CoreV1().Namespaces().Create(ctx, nsObject(target), metaCreate)
	var provisionT, teardownT, totalT []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		run := ownerJob(b, cluster.Client, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano()%1e6, i))
		b.StartTimer()
		start := time.Now()
		p, err := m.Provision(ctx, a, run, target)
		require.NoError(b, err)
		provisioned := time.Now()
		require.NoError(b, m.Teardown(ctx, p))
		provisionT = append(provisionT, provisioned.Sub(start))
		teardownT = append(teardownT, time.Since(provisioned))
		totalT = append(totalT, time.Since(start))
		b.StopTimer()
		_ = cluster.Client.BatchV1().Jobs(releaseNS).Delete(ctx, run.Name, metav1.DeleteOptions{})
		b.StartTimer()
	}
	percentiles(b, "provision", provisionT)
	percentiles(b, "teardown", teardownT)
	percentiles(b, "both", totalT)
	b.ReportMetric(float64(retried.Load()), "retries")
}

// BenchmarkRunRBACConcurrent provisions 50 runs at once (one goroutine each), then tears them down at
// once: wall time of each, and no error and no retried transient error (no throttling) allowed.
func BenchmarkRunRBACConcurrent(b *testing.B) {
	const n = 50
	m, retried := benchManager(b)
	a, _ := testenv.Catalogue(b).Action("scale-deployment")
	ctx := context.Background()
	target := "bench-concurrent"
	_, _ = cluster.Client.CoreV1().Namespaces().Create(ctx, nsObject(target), metaCreate)
	var provisionWall, teardownWall []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		runs := make([]runrbac.Run, n)
		for j := range runs {
			runs[j] = ownerJob(b, cluster.Client, fmt.Sprintf("conc-%d-%d-%d", time.Now().UnixNano()%1e6, i, j))
		}
		b.StartTimer()
		got := make([]*runrbac.Provisioned, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := time.Now()
		for j := range runs {
			wg.Go(func() { got[j], errs[j] = m.Provision(ctx, a, runs[j], target) })
		}
		wg.Wait()
		provisionWall = append(provisionWall, time.Since(start))
		for _, err := range errs {
			require.NoError(b, err)
		}
		start = time.Now()
		for j := range got {
			wg.Go(func() { errs[j] = m.Teardown(ctx, got[j]) })
		}
		wg.Wait()
		teardownWall = append(teardownWall, time.Since(start))
		for _, err := range errs {
			require.NoError(b, err)
		}
		b.StopTimer()
		for _, r := range runs {
			_ = cluster.Client.BatchV1().Jobs(releaseNS).Delete(ctx, r.Name, metav1.DeleteOptions{})
		}
		b.StartTimer()
	}
	percentiles(b, "provision50-wall", provisionWall)
	percentiles(b, "teardown50-wall", teardownWall)
	b.ReportMetric(float64(retried.Load()), "retries")
	require.Zero(b, retried.Load(), "transient errors (throttling) were retried")
}

// BenchmarkSweep1000 measures one Sweep that finds and removes 1,000 stale per-run RoleBindings, whose
// runs (Jobs) do not exist or which are past the age bound, among this release's other objects. The bindings are created by an admin
// outside the timing, in the shape Provision gives them.
func BenchmarkSweep1000(b *testing.B) {
	b.Run("run-gone", func(b *testing.B) { sweep1000(b, false) })
	b.Run("too-old", func(b *testing.B) { sweep1000(b, true) })
}

// sweep1000 sweeps 1,000 stale bindings, found stale by a lookup of their run (a GET per run), or by
// age alone.
func sweep1000(b *testing.B, byAge bool) {
	const n = 1000
	m, _ := benchManager(b)
	ctx := context.Background()
	target := "bench-sweep"
	_, _ = cluster.Client.CoreV1().Namespaces().Create(ctx, nsObject(target), metaCreate)
	c := m.Contract
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		work := make(chan int)
		var wg sync.WaitGroup
		var failed atomic.Value
		for range 16 {
			wg.Go(func() {
				for j := range work {
					run := runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: releaseNS, Name: fmt.Sprintf("gone-%d-%d", i, j), UID: "00000000-0000-0000-0000-000000000000"}
					name := m.ServiceAccountName(testenv.Action(b, "scale-deployment"), target, run)
					rb := &rbacv1.RoleBinding{
						ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: target,
							Labels:      map[string]string{c.Labels.Run: runrbac.ID(run, c.RunServiceAccountPrefix), c.Labels.Action: "scale-deployment"},
							Annotations: map[string]string{c.Labels.RunAnnotation: fmt.Sprintf(`{"apiVersion":"batch/v1","kind":"Job","namespace":%q,"name":%q,"uid":"00000000-0000-0000-0000-000000000000"}`, releaseNS, run.Name)}},
						RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: c.ClusterRole("scale-deployment")},
						Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: releaseNS}},
					}
					if _, err := cluster.Client.RbacV1().RoleBindings(target).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
						failed.Store(err)
					}
				}
			})
		}
		for j := range n {
			work <- j
		}
		close(work)
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		opts := runrbac.SweepOptions{Exists: runrbac.JobExists(m)}
		if byAge {
			opts = runrbac.SweepOptions{MaxAge: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }}
		}
		res, err := m.Sweep(ctx, opts)
		require.NoError(b, err)
		require.GreaterOrEqual(b, len(res.Removed), n)
	}
}
