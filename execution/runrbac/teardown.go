package runrbac

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
)

// Teardown removes what Provision made for one run, by name: the binding, then the ServiceAccount.
// Objects already gone are fine, so it can be repeated.
func (m *Manager) Teardown(ctx context.Context, p *Provisioned) error {
	name := p.ServiceAccount.Name
	var errs []error
	if p.ClusterRoleBinding != nil {
		errs = append(errs, m.remove(ctx, "ClusterRoleBinding", "", name, func(ctx context.Context, o metav1.DeleteOptions) error {
			return m.Client.RbacV1().ClusterRoleBindings().Delete(ctx, name, o)
		}))
	}
	if p.RoleBinding != nil {
		ns := p.RoleBinding.Namespace
		errs = append(errs, m.remove(ctx, "RoleBinding", ns, name, func(ctx context.Context, o metav1.DeleteOptions) error {
			return m.Client.RbacV1().RoleBindings(ns).Delete(ctx, name, o)
		}))
	}
	errs = append(errs, m.removeServiceAccount(ctx, name))
	return errors.Join(errs...)
}

// TeardownRun removes everything labelled with the run, wherever it is: for a controller that knows
// only the run (after a restart, from a finalizer). It lists bindings across namespaces by label.
func (m *Manager) TeardownRun(ctx context.Context, r Run) error {
	selector := m.Contract.Labels.Run + "=" + ID(r, m.Contract.RunServiceAccountPrefix)
	var errs []error
	rbs, err := m.Client.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return fmt.Errorf("teardown %s: list RoleBindings: %w", r, err)
	}
	for _, rb := range rbs.Items {
		errs = append(errs, m.remove(ctx, "RoleBinding", rb.Namespace, rb.Name, func(ctx context.Context, o metav1.DeleteOptions) error {
			return m.Client.RbacV1().RoleBindings(rb.Namespace).Delete(ctx, rb.Name, o)
		}))
	}
	crbs, err := m.Client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{LabelSelector: selector})
	switch {
	case apierrors.IsForbidden(err):
		// A catalogue without Cluster actions gives the controller no ClusterRoleBinding rights: it
		// cannot have made one.
	case err != nil:
		errs = append(errs, fmt.Errorf("teardown %s: list ClusterRoleBindings: %w", r, err))
	default:
		for _, crb := range crbs.Items {
			errs = append(errs, m.remove(ctx, "ClusterRoleBinding", "", crb.Name, func(ctx context.Context, o metav1.DeleteOptions) error {
				return m.Client.RbacV1().ClusterRoleBindings().Delete(ctx, crb.Name, o)
			}))
		}
	}
	// The ServiceAccount's name carries the action, which a restarted controller may not know: found by
	// the run label in the release namespace, like the bindings.
	sas, err := m.Client.CoreV1().ServiceAccounts(m.Contract.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("teardown %s: list ServiceAccounts: %w", r, err))...)
	}
	for _, sa := range sas.Items {
		errs = append(errs, m.removeServiceAccount(ctx, sa.Name))
	}
	return errors.Join(errs...)
}

func (m *Manager) removeServiceAccount(ctx context.Context, name string) error {
	ns := m.Contract.Namespace
	return m.remove(ctx, "ServiceAccount", ns, name, func(ctx context.Context, o metav1.DeleteOptions) error {
		return m.Client.CoreV1().ServiceAccounts(ns).Delete(ctx, name, o)
	})
}

// remove deletes one object, retrying transient errors; NotFound is success.
func (m *Manager) remove(ctx context.Context, kind, namespace, name string, del func(context.Context, metav1.DeleteOptions) error) error {
	err := m.retry(ctx, func() error {
		err := del(ctx, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("remove %s %s/%s: %w", kind, namespace, name, err)
	}
	return nil
}

// RunExists tells Sweep whether a run object still exists with the same UID.
type RunExists func(ctx context.Context, r Run) (bool, error)

// JobExists is a RunExists for runs that are batch/v1 Jobs. For other kinds (a Tekton PipelineRun)
// the controller passes its own, for example a Get through its dynamic or controller-runtime client.
func JobExists(m *Manager) RunExists {
	return func(ctx context.Context, r Run) (bool, error) {
		if r.APIVersion != batchv1.SchemeGroupVersion.String() || r.Kind != "Job" {
			return false, fmt.Errorf("JobExists cannot look up %s", r)
		}
		job, err := m.Client.BatchV1().Jobs(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return job.UID == r.UID, nil
	}
}

// SweepOptions say what is stale.
type SweepOptions struct {
	// MaxAge removes anything older, whatever its run: no action runs that long (0: no age bound).
	MaxAge time.Duration
	// Exists removes objects whose run is gone; nil leaves only the age bound. An error for one run
	// keeps its objects (the next sweep tries again) and is reported.
	Exists RunExists
	// Workers delete in parallel (default 16).
	Workers int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// SweepResult lists what a sweep removed, as kind/namespace/name.
type SweepResult struct {
	Removed []string
}

// Sweep removes per-run bindings and ServiceAccounts of this release whose run no longer exists or that
// are older than MaxAge: the backstop for a controller that crashed between Provision and Teardown.
// Only objects this release made are considered: the run label, and the subject (or name) a per-run
// ServiceAccount of the release namespace with the release's prefix, as the admission policy demands.
func (m *Manager) Sweep(ctx context.Context, opts SweepOptions) (SweepResult, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	type candidate struct {
		kind, namespace, name string
		created               time.Time
		annotation            string
		del                   func(context.Context, metav1.DeleteOptions) error
	}
	var cands []candidate
	selector := metav1.ListOptions{LabelSelector: m.Contract.Labels.Run}
	ours := func(name string, subjects []subject) bool {
		prefix := m.Contract.RunServiceAccountPrefix
		if len(name) <= len(prefix) || name[:len(prefix)] != prefix {
			return false
		}
		return len(subjects) == 1 && subjects[0].kind == "ServiceAccount" && subjects[0].namespace == m.Contract.Namespace && subjects[0].name == name
	}
	rbs, err := m.Client.RbacV1().RoleBindings("").List(ctx, selector)
	if err != nil {
		return SweepResult{}, fmt.Errorf("sweep: list RoleBindings: %w", err)
	}
	for _, rb := range rbs.Items {
		if !ours(rb.Name, subjectsOf(rb.Subjects)) {
			continue
		}
		cands = append(cands, candidate{"RoleBinding", rb.Namespace, rb.Name, rb.CreationTimestamp.Time, rb.Annotations[m.Contract.Labels.RunAnnotation],
			func(ctx context.Context, o metav1.DeleteOptions) error {
				return m.Client.RbacV1().RoleBindings(rb.Namespace).Delete(ctx, rb.Name, o)
			}})
	}
	crbs, err := m.Client.RbacV1().ClusterRoleBindings().List(ctx, selector)
	if err != nil && !apierrors.IsForbidden(err) {
		return SweepResult{}, fmt.Errorf("sweep: list ClusterRoleBindings: %w", err)
	}
	if err == nil {
		for _, crb := range crbs.Items {
			if !ours(crb.Name, subjectsOf(crb.Subjects)) {
				continue
			}
			cands = append(cands, candidate{"ClusterRoleBinding", "", crb.Name, crb.CreationTimestamp.Time, crb.Annotations[m.Contract.Labels.RunAnnotation],
				func(ctx context.Context, o metav1.DeleteOptions) error {
					return m.Client.RbacV1().ClusterRoleBindings().Delete(ctx, crb.Name, o)
				}})
		}
	}
	sas, err := m.Client.CoreV1().ServiceAccounts(m.Contract.Namespace).List(ctx, selector)
	if err != nil {
		return SweepResult{}, fmt.Errorf("sweep: list ServiceAccounts: %w", err)
	}
	for _, sa := range sas.Items {
		if !ours(sa.Name, []subject{{"ServiceAccount", sa.Namespace, sa.Name}}) {
			continue
		}
		cands = append(cands, candidate{"ServiceAccount", sa.Namespace, sa.Name, sa.CreationTimestamp.Time, sa.Annotations[m.Contract.Labels.RunAnnotation],
			func(ctx context.Context, o metav1.DeleteOptions) error {
				return m.Client.CoreV1().ServiceAccounts(sa.Namespace).Delete(ctx, sa.Name, o)
			}})
	}

	// Decide per distinct run, once (many objects share a run), the lookups in parallel.
	now := opts.Now()
	var errs []error
	var stale []candidate
	runs := map[string]Run{}
	for _, c := range cands {
		if opts.MaxAge > 0 && now.Sub(c.created) > opts.MaxAge {
			continue
		}
		// An object without a readable run is left to the age bound.
		if r, ok := runFromAnnotation(c.annotation); ok && opts.Exists != nil {
			runs[c.annotation] = r
		}
	}
	alive := m.lookup(ctx, runs, opts, &errs)
	for _, c := range cands {
		if opts.MaxAge > 0 && now.Sub(c.created) > opts.MaxAge {
			stale = append(stale, c)
			continue
		}
		if known, ok := alive[c.annotation]; ok && !known {
			stale = append(stale, c)
		}
	}

	var mu sync.Mutex
	var result SweepResult
	workqueue.ParallelizeUntil(ctx, opts.Workers, len(stale), func(i int) {
		c := stale[i]
		err := m.remove(ctx, c.kind, c.namespace, c.name, c.del)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		} else {
			result.Removed = append(result.Removed, c.kind+"/"+c.namespace+"/"+c.name)
		}
	})
	slices.Sort(result.Removed)
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("sweep: %w", ctx.Err()))
	}
	return result, errors.Join(errs...)
}

type subject struct{ kind, namespace, name string }

// lookup asks opts.Exists about each run with opts.Workers in parallel. A run whose lookup fails is
// kept (reported as alive) and the error recorded.
func (m *Manager) lookup(ctx context.Context, runs map[string]Run, opts SweepOptions, errs *[]error) map[string]bool {
	alive := make(map[string]bool, len(runs))
	keys := slices.Collect(maps.Keys(runs))
	var mu sync.Mutex
	workqueue.ParallelizeUntil(ctx, opts.Workers, len(keys), func(i int) {
		key := keys[i]
		ok, err := opts.Exists(ctx, runs[key])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			*errs = append(*errs, fmt.Errorf("sweep: %s: %w", runs[key], err))
			ok = true
		}
		alive[key] = ok
	})
	return alive
}

func subjectsOf(in []rbacv1.Subject) []subject {
	out := make([]subject, 0, len(in))
	for _, s := range in {
		out = append(out, subject{s.Kind, s.Namespace, s.Name})
	}
	return out
}
