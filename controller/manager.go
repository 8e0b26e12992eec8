package controller

import (
	"fmt"
	"net/http"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/redact"
)

// Options configure a controller manager.
type Options struct {
	Contract  *execution.Contract
	Catalogue *catalogue.Catalogue
	Gate      *gate.Gate
	Redactor  *redact.Redactor
	// Workers reconcile ActionRuns at once (4 when 0).
	Workers int
	// RunTimeout bounds a Job (15 minutes when 0); SweepInterval paces the sweep (5 minutes when 0).
	RunTimeout, SweepInterval time.Duration
	// LeaderElection through a Lease named <release>-controller in the release namespace.
	LeaderElection bool
	// ProbeAddr and MetricsAddr serve /healthz, /readyz and /metrics ("0" turns one off).
	ProbeAddr, MetricsAddr string
	// DefaultMode runs a run whose spec names no mode: job (the default) or tekton.
	DefaultMode string
	// SkipNameValidation lets one process start the controller more than once (tests that restart
	// it); controller-runtime refuses a second controller of the same name otherwise.
	SkipNameValidation bool
}

// NewManager is the controller's manager: the ActionRun reconciler, the sweeper, probes and metrics,
// acting with cfg's identity (the controller's ServiceAccount).
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if err := o.Contract.CheckCatalogue(o.Catalogue); err != nil {
		return nil, err
	}
	o.Workers = max(o.Workers, 1)
	if o.RunTimeout == 0 {
		o.RunTimeout = 15 * time.Minute
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = 5 * time.Minute
	}
	if o.DefaultMode != "" && o.DefaultMode != v1alpha1.ModeJob && o.DefaultMode != v1alpha1.ModeTekton {
		return nil, fmt.Errorf("default mode %q: job or tekton", o.DefaultMode)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	// TaskRuns are run and watched only where Tekton serves them: a watch of a kind the API server
	// does not know would keep the manager from starting.
	tekton, err := TektonInstalled(kube.Discovery())
	if err != nil {
		return nil, fmt.Errorf("discover Tekton: %w", err)
	}
	if o.DefaultMode == v1alpha1.ModeTekton && !tekton {
		return nil, fmt.Errorf("default mode tekton, but the API server serves no %s", taskRunGVR.GroupResource())
	}
	byObject := map[client.Object]cache.ByObject{
		&batchv1.Job{}: {Namespaces: map[string]cache.Config{o.Contract.Namespace: {}}},
	}
	if tekton {
		tr := &unstructured.Unstructured{}
		tr.SetGroupVersionKind(taskRunGVK)
		byObject[tr] = cache.ByObject{Namespaces: map[string]cache.Config{o.Contract.Namespace: {}}}
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		HealthProbeBindAddress:        o.ProbeAddr,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.Contract.Release + "-controller",
		LeaderElectionNamespace:       o.Contract.Namespace,
		LeaderElectionReleaseOnCancel: true,
		// Runs are watched in the release namespace only: the controller may read them nowhere else.
		Cache: cache.Options{ByObject: byObject},
	})
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	rbac := runrbac.New(kube, o.Contract)
	r := &Reconciler{
		Client: mgr.GetClient(), Kube: kube, Contract: o.Contract, Catalogue: o.Catalogue, Gate: o.Gate, RBAC: rbac,
		Redactor: o.Redactor, Recorder: mgr.GetEventRecorder(o.Contract.Release + "-controller"), RunTimeout: o.RunTimeout,
		Dynamic: dyn, Tekton: tekton, DefaultMode: o.DefaultMode,
	}
	if err := r.SetupWithManager(mgr, controller.Options{MaxConcurrentReconciles: o.Workers, SkipNameValidation: &o.SkipNameValidation}); err != nil {
		return nil, err
	}
	if err := mgr.Add(&Sweeper{RBAC: rbac, Exists: runExists(rbac, dyn), Interval: o.SweepInterval, MaxAge: 2 * o.RunTimeout}); err != nil {
		return nil, err
	}
	if o.ProbeAddr != "0" && o.ProbeAddr != "" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
		// Ready once the informers synced: a standby replica is ready too, and takes over through the Lease.
		if err := mgr.AddReadyzCheck("informers", func(req *http.Request) error {
			if !mgr.GetCache().WaitForCacheSync(req.Context()) {
				return fmt.Errorf("informers not synced")
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}
