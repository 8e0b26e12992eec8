package controller

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The controller's own metrics, beside controller-runtime's (workqueue_depth{name="actionrun"} is the
// queue depth; controller_runtime_reconcile_* the reconciles), on the manager's /metrics.
var (
	runsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_execution_runs_started_total", Help: "Runs whose Job and identity were created, by action.",
	}, []string{"action"})
	runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_execution_runs_total", Help: "Runs that reached a final phase, by action and outcome (Succeeded, Failed, Refused).",
	}, []string{"action", "outcome"})
	runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "kubernaut_execution_run_duration_seconds", Help: "Start of a run's Job to its recorded outcome, by action and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
	}, []string{"action", "outcome"})
	runsWaiting = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kubernaut_execution_run_budget_waits_total", Help: "Attempts to start a run that the run budget (ResourceQuota) turned away; the run is retried.",
	})
	sweeps = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_execution_sweep_removed_total", Help: "Per-run objects the sweep removed, by kind.",
	}, []string{"kind"})
)

func init() {
	metrics.Registry.MustRegister(runsStarted, runsFinished, runDuration, runsWaiting, sweeps)
}
