// Package runrbac is the per-run RBAC lifecycle of ephemeral mode: Provision gives one run its own
// ServiceAccount, bound to exactly its action's ClusterRole; Teardown removes both; Sweep removes what
// a crashed controller left behind; the finalizer helpers hold the run object until teardown is done.
//
// Names, labels and the namespace come from the release's execution.Contract. It uses client-go's
// kubernetes.Interface only, so it works from plain client-go and from controller-runtime (whose
// manager gives a rest.Config for kubernetes.NewForConfig).
//
// Where things live, and why:
//   - the ServiceAccount in the release namespace (a pod can only use an SA of its own namespace), owned
//     by the run object, which lives there too, so the garbage collector removes it with the run;
//   - the RoleBinding in the target namespace (a ClusterRoleBinding for a Cluster action), with no owner
//     reference: one across namespaces is treated as absent and the binding would be collected at once,
//     and a cluster-scoped object with a namespaced owner is never collected ("Garbage Collection").
//     Bindings are found by the run label and removed by Teardown, or by Sweep as a backstop.
package runrbac

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
)

// Manager provisions and removes per-run RBAC for one release.
type Manager struct {
	Client   kubernetes.Interface
	Contract *execution.Contract
	// Backoff paces retries of transient errors (timeouts, throttling, unavailable API server);
	// DefaultBackoff when zero. The context's cancellation stops retrying at once.
	Backoff wait.Backoff
	// Retried counts transient errors that were retried, so callers can report throttling.
	Retried func(err error)
}

// DefaultBackoff retries a transient error five times over about 1.5 s.
var DefaultBackoff = wait.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 6, Cap: 2 * time.Second}

// New is a Manager with the default backoff.
func New(client kubernetes.Interface, contract *execution.Contract) *Manager {
	return &Manager{Client: client, Contract: contract, Backoff: DefaultBackoff}
}

// Provisioned is what Provision created (or found already there and matching).
type Provisioned struct {
	Run            Run
	ID             string
	Action         string
	ServiceAccount *corev1.ServiceAccount
	// One of the two is set: RoleBinding for a Namespaced action, ClusterRoleBinding for a Cluster one.
	RoleBinding        *rbacv1.RoleBinding
	ClusterRoleBinding *rbacv1.ClusterRoleBinding
}

// ServiceAccountName is the run's ServiceAccount: the pod spec's serviceAccountName.
func (p *Provisioned) ServiceAccountName() string { return p.ServiceAccount.Name }

// ServiceAccountName is the name of a run's ServiceAccount (and of its binding): the contract's prefix,
// the action, for a Namespaced action the target namespace, then the run's ID, joined by dots. The
// admission policies read the action and the namespace from the name (the requesting identity is all
// they see of a run): a run identity acts only for its action, and binds and acts only in its
// namespace. A dot cannot occur in an action name, a namespace or an ID, so the parts are never
// ambiguous.
func (m *Manager) ServiceAccountName(a catalogue.Action, targetNamespace string, r Run) string {
	return ServiceAccountName(m.Contract, a, targetNamespace, r.Kind, r.Name)
}

// ServiceAccountName is the ServiceAccount of a run of action a on targetNamespace ("" for a Cluster
// action) whose object has this kind and name in the release namespace, known before the object is
// created: what its pod spec (Job) or taskRunTemplate (PipelineRun) names.
func ServiceAccountName(c *execution.Contract, a catalogue.Action, targetNamespace, kind, name string) string {
	parts := []string{a.Name}
	if a.Scope != catalogue.Cluster {
		parts = append(parts, targetNamespace)
	}
	parts = append(parts, id(kind, c.Namespace, name, c.RunServiceAccountPrefix))
	return c.RunServiceAccountPrefix + strings.Join(parts, ".")
}

// ActionOf is the action a per-run ServiceAccount name was made for, or false if the name is not one.
func ActionOf(c *execution.Contract, serviceAccount string) (string, bool) {
	rest, ok := strings.CutPrefix(serviceAccount, c.RunServiceAccountPrefix)
	if !ok {
		return "", false
	}
	action, _, ok := strings.Cut(rest, ".")
	return action, ok && action != ""
}

// ConflictError says that an object of the run's name exists but is not what this run needs (another
// run's, or changed by hand). Provision does not take it over.
type ConflictError struct {
	Kind, Namespace, Name, Reason string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %s/%s exists and does not match the run: %s", e.Kind, e.Namespace, e.Name, e.Reason)
}

// Provision makes the run's ServiceAccount and binding. It is idempotent: after a crash, running it
// again converges; an existing object that matches is kept, one that conflicts is a *ConflictError.
//
// The binding is created before the ServiceAccount. A pod cannot be created for a ServiceAccount that
// does not exist (the ServiceAccount admission plugin refuses it), so a Job created first starts only
// once the ServiceAccount exists (the Job controller retries), and by then its permissions are already
// bound: the dry-run step never runs unauthorised. Tekton fails a TaskRun whose pod it cannot create,
// so a TaskRun is created pending (spec.status TaskRunPending) and started after Provision. A binding
// left by a crash between the two is Sweep's.
func (m *Manager) Provision(ctx context.Context, a catalogue.Action, r Run, targetNamespace string) (*Provisioned, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	if r.Namespace != m.Contract.Namespace {
		return nil, fmt.Errorf("run %s: must be in the release namespace %s: a ServiceAccount can only be owned by an object of its own namespace", r, m.Contract.Namespace)
	}
	if a.Scope != catalogue.Cluster {
		if msgs := validation.IsDNS1123Label(targetNamespace); len(msgs) > 0 {
			return nil, fmt.Errorf("action %s: target namespace %q: %v", a.Name, targetNamespace, msgs)
		}
	}
	id := ID(r, m.Contract.RunServiceAccountPrefix)
	name := m.ServiceAccountName(a, targetNamespace, r)
	meta := func(namespace string) metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: name, Namespace: namespace,
			Labels:      map[string]string{m.Contract.Labels.Run: id, m.Contract.Labels.Action: a.Name},
			Annotations: map[string]string{m.Contract.Labels.RunAnnotation: r.annotation()},
		}
	}
	roleRef := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: m.Contract.ClusterRole(a.Name)}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: m.Contract.Namespace}}
	out := &Provisioned{Run: r, ID: id, Action: a.Name}

	if a.Scope == catalogue.Cluster {
		want := &rbacv1.ClusterRoleBinding{ObjectMeta: meta(""), RoleRef: roleRef, Subjects: subjects}
		crbs := m.Client.RbacV1().ClusterRoleBindings()
		got, err := ensure(ctx, m, "ClusterRoleBinding", want,
			func(ctx context.Context) (*rbacv1.ClusterRoleBinding, error) {
				return crbs.Create(ctx, want, metav1.CreateOptions{})
			},
			func(ctx context.Context) (*rbacv1.ClusterRoleBinding, error) {
				return crbs.Get(ctx, name, metav1.GetOptions{})
			},
			func(got *rbacv1.ClusterRoleBinding) string {
				return m.bindingMismatch(got.ObjectMeta, got.RoleRef, got.Subjects, want.ObjectMeta, roleRef, subjects)
			})
		if err != nil {
			return nil, err
		}
		out.ClusterRoleBinding = got
	} else {
		// An owner reference is valid only within a namespace: the binding gets one when the target is
		// the release namespace itself, so the garbage collector is a second way out.
		want := &rbacv1.RoleBinding{ObjectMeta: meta(targetNamespace), RoleRef: roleRef, Subjects: subjects}
		if targetNamespace == r.Namespace {
			want.OwnerReferences = []metav1.OwnerReference{r.OwnerReference()}
		}
		rbs := m.Client.RbacV1().RoleBindings(targetNamespace)
		got, err := ensure(ctx, m, "RoleBinding", want,
			func(ctx context.Context) (*rbacv1.RoleBinding, error) {
				return rbs.Create(ctx, want, metav1.CreateOptions{})
			},
			func(ctx context.Context) (*rbacv1.RoleBinding, error) { return rbs.Get(ctx, name, metav1.GetOptions{}) },
			func(got *rbacv1.RoleBinding) string {
				return m.bindingMismatch(got.ObjectMeta, got.RoleRef, got.Subjects, want.ObjectMeta, roleRef, subjects)
			})
		if err != nil {
			return nil, err
		}
		out.RoleBinding = got
	}

	sa := &corev1.ServiceAccount{ObjectMeta: meta(m.Contract.Namespace), AutomountServiceAccountToken: ptr.To(true),
		ImagePullSecrets: m.Contract.ImagePullSecrets}
	sa.OwnerReferences = []metav1.OwnerReference{r.OwnerReference()}
	sas := m.Client.CoreV1().ServiceAccounts(m.Contract.Namespace)
	got, err := ensure(ctx, m, "ServiceAccount", sa,
		func(ctx context.Context) (*corev1.ServiceAccount, error) {
			return sas.Create(ctx, sa, metav1.CreateOptions{})
		},
		func(ctx context.Context) (*corev1.ServiceAccount, error) {
			return sas.Get(ctx, name, metav1.GetOptions{})
		},
		func(got *corev1.ServiceAccount) string {
			if reason := m.labelMismatch(got.ObjectMeta, sa.ObjectMeta); reason != "" {
				return reason
			}
			for _, o := range got.OwnerReferences {
				if o.UID == r.UID {
					return ""
				}
			}
			return "not owned by the run"
		})
	if err != nil {
		return nil, err
	}
	out.ServiceAccount = got
	return out, nil
}

func (m *Manager) labelMismatch(got, want metav1.ObjectMeta) string {
	for _, k := range []string{m.Contract.Labels.Run, m.Contract.Labels.Action} {
		if got.Labels[k] != want.Labels[k] {
			return fmt.Sprintf("label %s is %q, want %q", k, got.Labels[k], want.Labels[k])
		}
	}
	k := m.Contract.Labels.RunAnnotation
	if got.Annotations[k] != want.Annotations[k] {
		return fmt.Sprintf("annotation %s is %q, want %q", k, got.Annotations[k], want.Annotations[k])
	}
	return ""
}

func (m *Manager) bindingMismatch(gotMeta metav1.ObjectMeta, gotRef rbacv1.RoleRef, gotSubjects []rbacv1.Subject, wantMeta metav1.ObjectMeta, wantRef rbacv1.RoleRef, wantSubjects []rbacv1.Subject) string {
	if reason := m.labelMismatch(gotMeta, wantMeta); reason != "" {
		return reason
	}
	if gotRef != wantRef {
		return fmt.Sprintf("roleRef is %s %s, want %s %s", gotRef.Kind, gotRef.Name, wantRef.Kind, wantRef.Name)
	}
	if !reflect.DeepEqual(gotSubjects, wantSubjects) {
		return fmt.Sprintf("subjects are %v, want %v", gotSubjects, wantSubjects)
	}
	return ""
}

// ensure creates an object, or on AlreadyExists reads it and checks that it matches (mismatch returns
// a reason). A transient error is retried; the object being deleted between the two calls is retried.
func ensure[T metav1.Object](ctx context.Context, m *Manager, kind string, want T, create, get func(context.Context) (T, error), mismatch func(T) string) (T, error) {
	var out T
	err := m.retry(ctx, func() error {
		got, err := create(ctx)
		if err == nil {
			out = got
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		got, err = get(ctx)
		if apierrors.IsNotFound(err) {
			return errRetryNow
		}
		if err != nil {
			return err
		}
		if got.GetDeletionTimestamp() != nil {
			// Being deleted (a teardown in flight): wait for it to go, then create afresh.
			return errRetryNow
		}
		if reason := mismatch(got); reason != "" {
			return &ConflictError{Kind: kind, Namespace: got.GetNamespace(), Name: got.GetName(), Reason: reason}
		}
		out = got
		return nil
	})
	if err != nil {
		var zero T
		return zero, fmt.Errorf("provision %s %s/%s: %w", kind, want.GetNamespace(), want.GetName(), err)
	}
	return out, nil
}

// errRetryNow marks a race (an object deleted between create and get) that retrying resolves.
var errRetryNow = errors.New("object changed concurrently")

// Transient reports whether an API error is worth retrying: the request may succeed unchanged later.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errRetryNow) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || apierrors.IsUnexpectedServerError(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// retry runs f until it succeeds, fails with a non-transient error, runs out of steps or the context ends.
func (m *Manager) retry(ctx context.Context, f func() error) error {
	b := m.Backoff
	if b.Steps == 0 {
		b = DefaultBackoff
	}
	var done bool
	var transient error // the last transient error, if any
	err := wait.ExponentialBackoffWithContext(ctx, b, func(context.Context) (bool, error) {
		err := f()
		if err == nil || !Transient(err) {
			done = true
			return true, err
		}
		transient = err
		if m.Retried != nil {
			m.Retried(err)
		}
		return false, nil
	})
	switch {
	case done || transient == nil:
		return err
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return fmt.Errorf("%w (last error: %v)", err, transient)
	default: // out of steps
		return fmt.Errorf("giving up after retries: %w", transient)
	}
}

// CheckBudget asks the API server, with a dry-run create of the run's ServiceAccount, whether the run
// budget (the release namespace's ResourceQuota, which counts ServiceAccounts) has a slot for it, so
// that a controller creates no Job that would wait for one. r needs no UID: nothing is persisted. A
// ServiceAccount that already exists holds its slot. A real create can still be refused when another
// run took the slot in between: Provision then reports it.
func (m *Manager) CheckBudget(ctx context.Context, a catalogue.Action, r Run, targetNamespace string) error {
	name := m.ServiceAccountName(a, targetNamespace, r)
	// Quota admission comes before the existence check, so an existing one is asked for first.
	if _, err := m.Client.CoreV1().ServiceAccounts(m.Contract.Namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: m.Contract.Namespace,
		Labels: map[string]string{m.Contract.Labels.Run: ID(r, m.Contract.RunServiceAccountPrefix), m.Contract.Labels.Action: a.Name},
	}, AutomountServiceAccountToken: ptr.To(true), ImagePullSecrets: m.Contract.ImagePullSecrets}
	_, err := m.Client.CoreV1().ServiceAccounts(m.Contract.Namespace).Create(ctx, sa, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
