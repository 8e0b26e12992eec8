// Command kubernaut-execution-controller runs ActionRuns (package controller) under the release's
// execution contract and policies, both mounted from the chart's ConfigMaps.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/controller"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/redact"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kubernaut-execution-controller:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kubernaut-execution-controller", flag.ContinueOnError)
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	metricsAddr := fs.String("metrics-bind-address", ":9090", "address of /metrics (0 turns it off)")
	leaderElect := fs.Bool("leader-elect", true, "elect a leader through a Lease in the release namespace; the others stand by")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	contractDir := fs.String("execution-contract", "/etc/kubernaut/contract", "the mounted execution contract ConfigMap")
	policiesDir := fs.String("policies", "/etc/kubernaut/policies", "the mounted policy ConfigMap")
	rolePrefix := fs.String("action-role-prefix", "", "the per-action ClusterRoles' prefix; must match the contract")
	saPrefix := fs.String("run-service-account-prefix", "", "the per-run ServiceAccounts' prefix; must match the contract")
	workers := fs.Int("workers", 4, "ActionRuns reconciled at once")
	runTimeout := fs.Duration("run-timeout", 15*time.Minute, "a run's Job is stopped after this (activeDeadlineSeconds)")
	sweepInterval := fs.Duration("sweep-interval", 5*time.Minute, "how often stale per-run identities are swept")
	defaultMode := fs.String("default-mode", "job", "how a run whose spec names no mode runs: job or tekton")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (in-cluster config when empty)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	redactor := redact.Default()
	ctrl.SetLogger(logr.FromSlogHandler(redactor.SlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))))

	contract, err := execution.LoadDir(*contractDir)
	if err != nil {
		return fmt.Errorf("--execution-contract: %w", err)
	}
	if *rolePrefix != "" && *rolePrefix != contract.ActionClusterRolePrefix {
		return fmt.Errorf("--action-role-prefix %q differs from the contract's %q", *rolePrefix, contract.ActionClusterRolePrefix)
	}
	if *saPrefix != "" && *saPrefix != contract.RunServiceAccountPrefix {
		return fmt.Errorf("--run-service-account-prefix %q differs from the contract's %q", *saPrefix, contract.RunServiceAccountPrefix)
	}
	cat, err := catalogue.Default()
	if err != nil {
		return err
	}
	g, err := gate.LoadDir(*policiesDir)
	if err != nil {
		return fmt.Errorf("--policies: %w", err)
	}

	cfg, err := restConfig(*kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := controller.NewManager(cfg, controller.Options{
		Contract: contract, Catalogue: cat, Gate: g, Redactor: redactor, Workers: *workers,
		RunTimeout: *runTimeout, SweepInterval: *sweepInterval, LeaderElection: *leaderElect,
		ProbeAddr: *probeAddr, MetricsAddr: *metricsAddr, DefaultMode: *defaultMode,
	})
	if err != nil {
		return err
	}
	ctrl.Log.Info("starting", "release", contract.Release, "namespace", contract.Namespace, "actions", strings.Join(actionNames(cat), ","))
	return mgr.Start(ctrl.SetupSignalHandler())
}

func actionNames(cat *catalogue.Catalogue) []string {
	var out []string
	for _, a := range cat.Actions {
		out = append(out, a.Name)
	}
	return out
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}
