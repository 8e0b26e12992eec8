package controller

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
)

// Sweeper runs runrbac's Sweep on a timer, on the leader only (a manager Runnable): the backstop for
// identities a crash left between Provision and Teardown.
type Sweeper struct {
	RBAC *runrbac.Manager
	// Exists says whether a run (a Job or a TaskRun) still exists.
	Exists   runrbac.RunExists
	Interval time.Duration
	// MaxAge removes per-run objects older than any run can be.
	MaxAge time.Duration
}

// Start sweeps every Interval until ctx ends.
func (s *Sweeper) Start(ctx context.Context) error {
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		res, err := s.RBAC.Sweep(ctx, runrbac.SweepOptions{Exists: s.Exists, MaxAge: s.MaxAge})
		for _, r := range res.Removed {
			kind, _, _ := strings.Cut(r, "/")
			sweeps.WithLabelValues(kind).Inc()
		}
		if err != nil {
			log.FromContext(ctx).Error(err, "sweep")
		} else if len(res.Removed) > 0 {
			log.FromContext(ctx).Info("sweep removed stale per-run objects", "removed", res.Removed)
		}
	}, s.Interval)
	return nil
}
