//go:build node

package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/controller"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// runTimes are one ActionRun's times as a client watching the run and its workloads sees them (each
// event stamped on arrival, to the millisecond).
type runTimes struct {
	total    time.Duration // create to a final phase
	toJob    time.Duration // create (or approval) to its Job or TaskRun: the controller's decision and provisioning
	toStatus time.Duration // the workload done to the final phase: the controller's follow-up and teardown
	phase    v1alpha1.Phase
}

// workloadEvent reads a Job or TaskRun event: its run annotation and whether it has finished.
func workloadEvent(obj runtime.Object) (annotation string, done, ok bool) {
	switch w := obj.(type) {
	case *batchv1.Job:
		for _, c := range w.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				done = true
			}
		}
		return w.Annotations[controller.RunAnnotation], done, true
	case *unstructured.Unstructured:
		conditions, _, _ := unstructured.NestedSlice(w.Object, "status", "conditions")
		for _, c := range conditions {
			m, _ := c.(map[string]any)
			if m["type"] == "Succeeded" && (m["status"] == "True" || m["status"] == "False") {
				done = true
			}
		}
		return w.GetAnnotations()[controller.RunAnnotation], done, true
	}
	return "", false, false
}

// timeRun creates an ActionRun in mode ("" for the release's default), approves it when it waits for
// approval, and watches it and its workloads until it is final.
func timeRun(ctx context.Context, ns, name, action, mode string, params map[string]any, requester, approver user) (runTimes, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	runs, err := cluster.Dynamic.Resource(actionRunsGVR).Namespace(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return runTimes{}, err
	}
	defer runs.Stop()
	var jobs watch.Interface
	if mode == v1alpha1.ModeTekton {
		jobs, err = cluster.Dynamic.Resource(tektonGVR("taskruns")).Namespace(releaseNS).Watch(ctx, metav1.ListOptions{})
	} else {
		jobs, err = cluster.Client.BatchV1().Jobs(releaseNS).Watch(ctx, metav1.ListOptions{})
	}
	if err != nil {
		return runTimes{}, err
	}
	defer jobs.Stop()
	start := time.Now()
	created, err := requester.client.Resource(actionRunsGVR).Namespace(ns).Create(ctx, newActionRun(name, action, params, mode, requester), metav1.CreateOptions{})
	if err != nil {
		return runTimes{}, err
	}
	annotation := ns + "/" + name + "/" + string(created.GetUID())
	var rt runTimes
	var jobSeen, jobDone time.Time
	decided, approved := start, false
	for {
		select {
		case <-ctx.Done():
			return rt, fmt.Errorf("run %s/%s: %w", ns, name, ctx.Err())
		case e, ok := <-jobs.ResultChan():
			if !ok {
				return rt, fmt.Errorf("the workloads watch ended")
			}
			got, done, isWorkload := workloadEvent(e.Object)
			if !isWorkload || got != annotation {
				continue
			}
			now := time.Now()
			if jobSeen.IsZero() {
				jobSeen = now
			}
			if done && jobDone.IsZero() {
				jobDone = now
			}
		case e, ok := <-runs.ResultChan():
			if !ok {
				return rt, fmt.Errorf("the ActionRun watch ended")
			}
			u, isRun := e.Object.(*unstructured.Unstructured)
			if !isRun {
				continue
			}
			now := time.Now()
			var run v1alpha1.ActionRun
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &run); err != nil {
				return rt, err
			}
			if run.Status.Phase == v1alpha1.AwaitingApproval && !approved {
				decided = time.Now()
				if err := approveRun(ctx, ns, name, created.GetUID(), run.Status.SpecHash, approver); err != nil {
					return rt, err
				}
				approved = true
			}
			if !run.Status.Phase.Final() {
				continue
			}
			rt.phase, rt.total = run.Status.Phase, now.Sub(start)
			if !jobSeen.IsZero() {
				rt.toJob = jobSeen.Sub(decided)
			}
			if !jobDone.IsZero() {
				rt.toStatus = now.Sub(jobDone)
			}
			return rt, nil
		}
	}
}

var benchSeq int

func percentile(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return float64(s[i].Microseconds()) / 1000
}

// BenchmarkActionRun runs each catalogue action b.N times through the chart's controller Deployment,
// in each mode (a Job, a TaskRun), one run at a time, each on a fresh fixture, and reports milliseconds
// at p50 and p95: create to the final phase; create (for custom-script: its approval) to the Job or
// TaskRun, the controller's decision and provisioning; and the workload's completion to the final
// phase, the controller's follow-up and teardown. The rest is the workload itself (pod start, the
// gates, the dry-run and the action).
func BenchmarkActionRun(b *testing.B) {
	installed(b)
	awaitController(b)
	for _, mode := range []string{v1alpha1.ModeJob, v1alpha1.ModeTekton} {
		for _, a := range testenv.Catalogue(b).Actions {
			benchmarkActionRun(b, mode, a)
		}
	}
}

func benchmarkActionRun(b *testing.B, mode string, a catalogue.Action) {
	b.Run(mode+"/"+a.Name, func(b *testing.B) {
		var total, toJob, toStatus []time.Duration
		for range b.N {
			b.StopTimer()
			// Names unique across the benchmark's rounds: the testing package runs it with b.N 1 first,
			// and that round's namespaces may still be terminating.
			benchSeq++
			i := benchSeq
			if a.Scope == catalogue.Cluster {
				// Each run starts from a schedulable second node (a drain cordons it).
				n := secondNode(b)
				_, err := cluster.Client.CoreV1().Nodes().Patch(bg, n, types.StrategicMergePatchType, []byte(`{"spec":{"unschedulable":null}}`), metav1.PatchOptions{})
				require.NoError(b, err)
			}
			s := scenarioTable.For(b, a.Name)
			ns := targetNamespace(b, fmt.Sprintf("bench-%d-%s", i, a.Name))
			params := s.params(b, ns)
			runNS := ns
			if a.Scope == catalogue.Cluster {
				runNS = releaseNS
			}
			requester, approver := users(b, runNS)
			b.StartTimer()
			rt, err := timeRun(bg, runNS, fmt.Sprintf("bench-%d-%s", i, a.Name), a.Name, mode, requestParameters(a, params), requester, approver)
			b.StopTimer()
			require.NoError(b, err, "run %d", i)
			require.Equal(b, v1alpha1.Succeeded, rt.phase, "run %d", i)
			total, toJob, toStatus = append(total, rt.total), append(toJob, rt.toJob), append(toStatus, rt.toStatus)
		}
		b.ReportMetric(percentile(total, 0.5), "total-p50-ms")
		b.ReportMetric(percentile(total, 0.95), "total-p95-ms")
		b.ReportMetric(percentile(toJob, 0.5), "to-workload-p50-ms")
		b.ReportMetric(percentile(toJob, 0.95), "to-workload-p95-ms")
		b.ReportMetric(percentile(toStatus, 0.5), "workload-to-status-p50-ms")
		b.ReportMetric(percentile(toStatus, 0.95), "workload-to-status-p95-ms")
	})
}

// controllerMemory is the controller container's RSS in bytes, from the kubelet's summary API.
func controllerMemory(ctx context.Context) (uint64, error) {
	raw, err := cluster.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodeName, "proxy", "stats", "summary").DoRaw(ctx)
	if err != nil {
		return 0, err
	}
	var summary struct {
		Pods []struct {
			PodRef     struct{ Name, Namespace string }
			Containers []struct {
				Name   string
				Memory struct {
					RSSBytes *uint64 `json:"rssBytes"`
				}
			}
		}
	}
	if err := json.Unmarshal(raw, &summary); err != nil {
		return 0, err
	}
	for _, p := range summary.Pods {
		if p.PodRef.Namespace != releaseNS || !strings.HasPrefix(p.PodRef.Name, release+"-controller-") {
			continue
		}
		for _, c := range p.Containers {
			if c.Name == "controller" && c.Memory.RSSBytes != nil {
				return *c.Memory.RSSBytes, nil
			}
		}
	}
	return 0, fmt.Errorf("no controller container in the kubelet's summary")
}

// controllerRequests is the controller's client-go request count (rest_client_requests_total), read
// through a kubectl port-forward to its metrics port: the NetworkPolicy lets only the monitoring
// namespace's Prometheus in, and a port-forward enters the pod's own network namespace.
func controllerRequests(b *testing.B) func() float64 {
	b.Helper()
	pods, err := cluster.Client.CoreV1().Pods(releaseNS).List(bg, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=controller"})
	require.NoError(b, err, "controller pods")
	require.Len(b, pods.Items, 1, "controller pods")
	cmd := exec.Command(filepath.Join(cluster.cache, "bin", "kubectl"), "--kubeconfig", cluster.Kubeconfig, "port-forward", "-n", releaseNS, "pod/"+pods.Items[0].Name, "19090:9090")
	require.NoError(b, cmd.Start())
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	read := func() (float64, error) {
		resp, err := http.Get("http://127.0.0.1:19090/metrics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var sum float64
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "rest_client_requests_total{") {
				f := strings.Fields(line)
				v, err := strconv.ParseFloat(f[len(f)-1], 64)
				if err != nil {
					return 0, err
				}
				sum += v
			}
		}
		return sum, sc.Err()
	}
	require.NoError(b, testenv.WaitFor(bg, 30*time.Second, func() error { _, err := read(); return err }))
	return func() float64 {
		v, err := read()
		require.NoError(b, err)
		return v
	}
}

// BenchmarkFiftyActionRunsAtOnce applies 50 patch-configmap ActionRuns at once (one goroutine each) and
// waits for all of them: the wall time, that each ran exactly once (one Job per run, every run
// Succeeded), the controller's API requests per run, and its RSS idle and at its peak under the load.
// The run budget (20 runs at once by default) is part of the figure: runs past it wait for a slot.
func BenchmarkFiftyActionRunsAtOnce(b *testing.B) {
	installed(b)
	awaitController(b)
	const n = 50
	requests := controllerRequests(b)
	for range b.N {
		b.StopTimer()
		benchSeq++
		ns := targetNamespace(b, fmt.Sprintf("fifty-%d", benchSeq))
		for j := range n {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cfg-%02d", j), Annotations: map[string]string{execution.PatchableKeysAnnotation: "LOG_LEVEL"}},
				Data: map[string]string{"LOG_LEVEL": "info"}}
			_, err := cluster.Client.CoreV1().ConfigMaps(ns).Create(bg, cm, metav1.CreateOptions{})
			require.NoError(b, err)
		}
		requester := userIn(b, ns, "agent", "requester")
		approver := userIn(b, ns, "oncall", "approver")
		idle, err := controllerMemory(bg)
		require.NoError(b, err)
		before := requests()
		var peak uint64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if m, err := controllerMemory(bg); err == nil {
					peak = max(peak, m)
				}
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		results := make([]runTimes, n)
		errs := make([]error, n)
		for j := range n {
			wg.Go(func() {
				results[j], errs[j] = timeRun(bg, ns, fmt.Sprintf("patch-%02d", j), "patch-configmap", "",
					map[string]any{"configmap": fmt.Sprintf("cfg-%02d", j), "patch": `{"data":{"LOG_LEVEL":"debug"}}`}, requester, approver)
			})
		}
		wg.Wait()
		wall := time.Since(start)
		b.StopTimer()
		close(stop)
		<-sampled
		after := requests()
		for j, err := range errs {
			require.NoError(b, err, "run patch-%02d", j)
			require.Equal(b, v1alpha1.Succeeded, results[j].phase, "run patch-%02d", j)
		}
		jobs, err := cluster.Client.BatchV1().Jobs(releaseNS).List(bg, metav1.ListOptions{})
		require.NoError(b, err)
		perRun := map[string]int{}
		for _, job := range jobs.Items {
			if a := job.Annotations[controller.RunAnnotation]; strings.HasPrefix(a, ns+"/") {
				perRun[a]++
			}
		}
		require.Len(b, perRun, n, "runs that have a Job")
		for run, c := range perRun {
			require.Equal(b, 1, c, "Jobs of run %s", run)
		}
		for j := range n {
			cm, err := cluster.Client.CoreV1().ConfigMaps(ns).Get(bg, fmt.Sprintf("cfg-%02d", j), metav1.GetOptions{})
			require.NoError(b, err, "cfg-%02d", j)
			require.Equal(b, "debug", cm.Data["LOG_LEVEL"], "cfg-%02d not patched: %v", j, cm.Data)
		}
		var totals []time.Duration
		for _, r := range results {
			totals = append(totals, r.total)
		}
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(percentile(totals, 0.5), "run-p50-ms")
		b.ReportMetric(percentile(totals, 0.95), "run-p95-ms")
		b.ReportMetric((after-before)/n, "api-requests/run")
		b.ReportMetric(float64(idle)/(1<<20), "rss-idle-MiB")
		b.ReportMetric(float64(peak)/(1<<20), "rss-peak-MiB")
	}
}
