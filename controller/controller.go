// Package controller is the execution controller: it runs ActionRuns. For each run it decides with
// the gate in process from the live target context (refusing, or waiting for a person's approval,
// before it creates anything), creates the run's Job or TaskRun and its per-run identity (package
// runrbac), follows it to completion, writes the steps' exit codes and a redacted tail of their output
// into status and Events, and tears the identity down. Sweep removes what a crash left.
//
// A run executes at most once: its workload's name is derived from the ActionRun's UID, so a
// controller that restarts between creating it and recording it finds the same one and follows it,
// and adopts it only when it runs what the run decided.
package controller

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/gate"
	"github.com/jordigilh/kubernaut-execution/execution/jobs"
	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
	"github.com/jordigilh/kubernaut-execution/redact"
)

// Finalizer keeps an ActionRun until its run's identity is torn down.
const Finalizer = "execution.kubernaut.io/teardown"

// RunAnnotation on a Job names its ActionRun as <namespace>/<name>/<uid>.
const RunAnnotation = "execution.kubernaut.io/action-run"

// outputBytes bounds the redacted output tail kept in status.
const outputBytes = 4096

var jobGVK = batchv1.SchemeGroupVersion.WithKind("Job")

// Reconciler runs ActionRuns in Job mode.
type Reconciler struct {
	Client    client.Client
	Kube      kubernetes.Interface
	Contract  *execution.Contract
	Catalogue *catalogue.Catalogue
	Gate      *gate.Gate
	RBAC      *runrbac.Manager
	Redactor  *redact.Redactor
	Recorder  events.EventRecorder
	// Dynamic reads and writes TaskRuns; Tekton says whether the API server serves them.
	Dynamic dynamic.Interface
	Tekton  bool
	// DefaultMode is the mode of a run whose spec names none (ModeJob when empty).
	DefaultMode string
	// RunTimeout bounds a run (a Job's activeDeadlineSeconds, a TaskRun's timeout).
	RunTimeout time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// SetupWithManager watches ActionRuns, the approvals that name them and the Jobs that carry them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	toRun := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		ns, name, _, ok := parseRunAnnotation(o.GetAnnotations()[RunAnnotation])
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
	})
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Tekton {
		tr := &unstructured.Unstructured{}
		tr.SetGroupVersionKind(taskRunGVK)
		b = b.Watches(tr, toRun)
	}
	return b.
		For(&v1alpha1.ActionRun{}, builder.WithPredicates(predicate.GenerationChangedPredicate{},
			predicate.NewPredicateFuncs(func(o client.Object) bool { return r.ours(o.(*v1alpha1.ActionRun)) }))).
		Watches(&v1alpha1.ActionApproval{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			a := o.(*v1alpha1.ActionApproval)
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Spec.ActionRun.Name}}}
		})).
		Watches(&batchv1.Job{}, toRun).
		WithOptions(opts).
		Named("actionrun").
		Complete(r)
}

// ours: each release's controller runs only the ActionRuns that name its release (the API server
// defaults spec.release to the release that installed the API), so two releases never run one twice.
func (r *Reconciler) ours(run *v1alpha1.ActionRun) bool {
	return run.Spec.Release == r.Contract.Release
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile moves one ActionRun on.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var run v1alpha1.ActionRun
	if err := r.Client.Get(ctx, req.NamespacedName, &run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !r.ours(&run) {
		return ctrl.Result{}, nil
	}
	if !run.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &run)
	}
	if run.Status.Phase.Final() {
		return ctrl.Result{}, r.teardown(ctx, &run)
	}
	if controllerutil.AddFinalizer(&run, Finalizer) {
		if err := r.Client.Update(ctx, &run); err != nil {
			return ctrl.Result{}, err
		}
	}
	if run.Status.Workload != nil {
		return r.follow(ctx, &run)
	}
	return r.start(ctx, &run)
}

// start decides a run and, when the gate allows it and it is approved where needed, starts it.
func (r *Reconciler) start(ctx context.Context, run *v1alpha1.ActionRun) (ctrl.Result, error) {
	st := run.Status.DeepCopy()
	st.ObservedGeneration = run.Generation
	st.SpecHash = SpecHash(run.Spec)
	if st.Phase == "" {
		st.Phase = v1alpha1.Pending
	}
	a, err := r.Contract.Lookup(r.Catalogue, run.Spec.Action)
	if err != nil {
		return r.refuse(ctx, run, st, "UnknownAction", err.Error())
	}
	if cmp.Or(run.Spec.Mode, r.DefaultMode) == v1alpha1.ModeTekton && !r.Tekton {
		return r.refuse(ctx, run, st, "ModeUnavailable", "spec.mode: tekton, but Tekton Pipelines is not installed (or the release renders no Tasks); use mode job")
	}
	targetNS := run.Namespace
	if a.Scope == catalogue.Cluster {
		if run.Namespace != r.Contract.Namespace {
			return r.refuse(ctx, run, st, "WrongNamespace", fmt.Sprintf("spec.action: %s acts on the cluster: ask for it from namespace %s", a.Name, r.Contract.Namespace))
		}
		targetNS = ""
	}
	params, err := Parameters(a.Action, run)
	if err != nil {
		return r.refuse(ctx, run, st, "InvalidParameters", err.Error())
	}
	target, err := TargetContext(ctx, r.Kube, r.Contract, a.Action, run.Namespace, params)
	if err != nil {
		var te *TargetError
		if errors.As(err, &te) {
			return r.refuse(ctx, run, st, "TargetNotFound", te.Error())
		}
		return ctrl.Result{}, err
	}
	approval, refused, err := r.approval(ctx, run)
	if err != nil {
		return ctrl.Result{}, err
	}
	d, err := r.Gate.Decide(ctx, gate.Run{Action: a.Name, Parameters: params, Target: target, Approved: approval != nil})
	if err != nil {
		return ctrl.Result{}, err
	}
	st.Decision = &v1alpha1.Decision{Allowed: d.Allowed, Refusals: r.redactAll(d.Refusals), ApprovalRequired: r.redactAll(d.ApprovalRequired),
		ApprovalSatisfied: d.ApprovalSatisfied, NotEvaluable: r.Redactor.Redact(d.NotEvaluable)}
	switch {
	case d.NotEvaluable != "":
		return r.refuse(ctx, run, st, "NotEvaluable", d.NotEvaluable)
	case !d.Allowed:
		return r.refuse(ctx, run, st, "Refused", strings.Join(d.Refusals, "; "))
	}
	setCondition(st, run, v1alpha1.ConditionAllowed, metav1.ConditionTrue, "Allowed", "the gate allows the run")
	if !d.ApprovalSatisfied {
		msg := "a person must approve: " + strings.Join(d.ApprovalRequired, "; ") + fmt.Sprintf(" (create an ActionApproval naming run %s, uid %s, specHash %s)", run.Name, run.UID, st.SpecHash)
		if len(refused) > 0 {
			msg += "; not counted: " + summary(refused)
		}
		setCondition(st, run, v1alpha1.ConditionApproved, metav1.ConditionFalse, "AwaitingApproval", msg)
		if st.Phase != v1alpha1.AwaitingApproval {
			r.event(run, corev1.EventTypeNormal, "AwaitingApproval", msg)
		}
		st.Phase = v1alpha1.AwaitingApproval
		return ctrl.Result{}, r.writeStatus(ctx, run, st)
	}
	if approval != nil {
		st.Approval, st.ApprovedBy = approval.Name, approval.Approver
		setCondition(st, run, v1alpha1.ConditionApproved, metav1.ConditionTrue, "Approved", "approved by "+approval.Approver)
	} else {
		setCondition(st, run, v1alpha1.ConditionApproved, metav1.ConditionTrue, "NotRequired", "no approval is required")
	}

	// The workload first (its pod waits for the ServiceAccount), then the identity it names, owned by
	// it. Not before the run budget has a slot for that identity: a Job or TaskRun waiting for its
	// ServiceAccount would sit in its controller's backoff after the slot frees.
	mode := cmp.Or(run.Spec.Mode, r.DefaultMode, v1alpha1.ModeJob)
	kind := jobGVK
	if mode == v1alpha1.ModeTekton {
		kind = taskRunGVK
	}
	name := JobName(run)
	sa := runrbac.ServiceAccountName(r.Contract, a.Action, targetNS, kind.Kind, name)
	if err := r.RBAC.CheckBudget(ctx, a.Action, runrbac.Run{APIVersion: kind.GroupVersion().String(), Kind: kind.Kind, Namespace: r.Contract.Namespace, Name: name}, targetNS); overBudget(err) {
		return r.waitForBudget(ctx, run, st, err)
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("run budget: %w", err)
	}
	var ref runrbac.Run
	var conflict string
	if mode == v1alpha1.ModeTekton {
		ref, conflict, err = r.createTaskRun(ctx, run, a.Name, name, sa, params, target, runRef(run, approval))
	} else {
		ref, conflict, err = r.createJob(ctx, run, a, name, sa, params, target, runRef(run, approval))
	}
	switch {
	case overBudget(err):
		return r.waitForBudget(ctx, run, st, err)
	case err != nil:
		return ctrl.Result{}, err
	case conflict != "":
		return r.refuse(ctx, run, st, "NameConflict", conflict)
	}
	p, err := r.RBAC.Provision(ctx, a.Action, ref, targetNS)
	if overBudget(err) {
		// The workload exists and waits for its ServiceAccount; the next attempt adopts it.
		return r.waitForBudget(ctx, run, st, err)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("provision run identity: %w", err)
	}
	if kind == taskRunGVK {
		if err := startTaskRun(ctx, r.Dynamic, r.Contract.Namespace, name); err != nil {
			return ctrl.Result{}, fmt.Errorf("start TaskRun %s: %w", name, err)
		}
	}
	st.Phase = v1alpha1.Running
	meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStarted)
	st.ServiceAccount = p.ServiceAccountName()
	st.Workload = &v1alpha1.Workload{Kind: kind.Kind, Name: name}
	st.StartTime = ptr.To(metav1.NewTime(r.now()))
	st.Steps = nil
	for _, s := range a.Steps {
		st.Steps = append(st.Steps, v1alpha1.StepStatus{Name: s})
	}
	r.event(run, corev1.EventTypeNormal, "Started", fmt.Sprintf("%s %s/%s as ServiceAccount %s", kind.Kind, r.Contract.Namespace, name, st.ServiceAccount))
	runsStarted.WithLabelValues(a.Name).Inc()
	return ctrl.Result{}, r.writeStatus(ctx, run, st)
}

// createJob creates the run's Job, or finds the one an earlier attempt created (never a second). A
// Job of that name for another run is a conflict, returned as its message.
func (r *Reconciler) createJob(ctx context.Context, run *v1alpha1.ActionRun, a execution.Action, name, sa string, params map[string]string, target string, rr RunRef) (runrbac.Run, string, error) {
	job, err := jobs.Build(r.Contract, a.Action, jobs.Input{Name: name, ServiceAccount: sa,
		Parameters: params, Target: target, Run: rr.Run, Approval: rr.Approval, ActiveDeadlineSeconds: ptr.To(int64(r.RunTimeout.Seconds()))})
	if err != nil {
		return runrbac.Run{}, "", err
	}
	job.Annotations = map[string]string{RunAnnotation: runAnnotation(run)}
	created, err := r.Kube.BatchV1().Jobs(r.Contract.Namespace).Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = r.Kube.BatchV1().Jobs(r.Contract.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && created.Annotations[RunAnnotation] != runAnnotation(run) {
			return runrbac.Run{}, fmt.Sprintf("Job %s exists for another run (%s)", name, created.Annotations[RunAnnotation]), nil
		}
		// Adopted only when it runs what this run decided: a Job of the same name made with the
		// controller's token and other values (or another identity) is not this run's record.
		if err == nil && !equality.Semantic.DeepEqual(envOf(created.Spec.Template.Spec), envOf(job.Spec.Template.Spec)) {
			return runrbac.Run{}, fmt.Sprintf("Job %s exists with other values than this run's", name), nil
		}
		if err == nil && created.Spec.Template.Spec.ServiceAccountName != sa {
			return runrbac.Run{}, fmt.Sprintf("Job %s exists as another ServiceAccount (%s)", name, created.Spec.Template.Spec.ServiceAccountName), nil
		}
	}
	if err != nil {
		return runrbac.Run{}, "", fmt.Errorf("create Job %s: %w", name, err)
	}
	return runrbac.RunOf(created, jobGVK), "", nil
}

// createTaskRun is createJob for a TaskRun of the action's chart Task.
func (r *Reconciler) createTaskRun(ctx context.Context, run *v1alpha1.ActionRun, action, name, sa string, params map[string]string, target string, rr RunRef) (runrbac.Run, string, error) {
	if r.Dynamic == nil || !r.Tekton {
		return runrbac.Run{}, "", fmt.Errorf("tekton mode: Tekton Pipelines is not installed")
	}
	trs := r.Dynamic.Resource(taskRunGVR).Namespace(r.Contract.Namespace)
	created, err := trs.Create(ctx, TaskRun(r.Contract, action, name, sa, params, target, rr, r.RunTimeout, runAnnotation(run)), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = trs.Get(ctx, name, metav1.GetOptions{})
		if err == nil && created.GetAnnotations()[RunAnnotation] != runAnnotation(run) {
			return runrbac.Run{}, fmt.Sprintf("TaskRun %s exists for another run (%s)", name, created.GetAnnotations()[RunAnnotation]), nil
		}
		if err == nil {
			want := TaskRun(r.Contract, action, name, sa, params, target, rr, r.RunTimeout, runAnnotation(run))
			for _, f := range []string{"params", "serviceAccountName", "taskRef"} {
				got, _, _ := unstructured.NestedFieldNoCopy(created.Object, "spec", f)
				wanted, _, _ := unstructured.NestedFieldNoCopy(want.Object, "spec", f)
				if !equality.Semantic.DeepEqual(got, wanted) {
					return runrbac.Run{}, fmt.Sprintf("TaskRun %s exists with another %s than this run's", name, f), nil
				}
			}
		}
	}
	if err != nil {
		return runrbac.Run{}, "", fmt.Errorf("create TaskRun %s: %w", name, err)
	}
	return runOfTaskRun(created), "", nil
}

// envOf is every container's environment, in order: what a Job's gate and steps act on.
func envOf(spec corev1.PodSpec) [][]corev1.EnvVar {
	var out [][]corev1.EnvVar
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		out = append(out, c.Env)
	}
	return out
}

// follow reads a running run's workload and, once it finished, records the outcome and tears down.
func (r *Reconciler) follow(ctx context.Context, run *v1alpha1.ActionRun) (ctrl.Result, error) {
	if run.Status.Workload.Kind == taskRunGVK.Kind {
		return r.followTaskRun(ctx, run)
	}
	st := run.Status.DeepCopy()
	job, err := r.Kube.BatchV1().Jobs(r.Contract.Namespace).Get(ctx, run.Status.Workload.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return r.finish(ctx, run, st, v1alpha1.Failed, "WorkloadGone", "the run's Job was deleted before it finished")
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	done, failedReason := finished(job)
	if !done {
		return ctrl.Result{}, nil
	}
	pods, err := r.Kube.CoreV1().Pods(r.Contract.Namespace).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job.Name})
	if err != nil {
		return ctrl.Result{}, err
	}
	var outcome jobs.Outcome
	var pod *corev1.Pod
	for i := range pods.Items {
		if o, ok := jobs.OutcomeOf(r.Contract, &pods.Items[i]); ok {
			outcome, pod = o, &pods.Items[i]
			break
		}
	}
	if pod == nil {
		return r.finish(ctx, run, st, v1alpha1.Failed, "NoOutcome", "the Job finished without a pod that ran its steps: "+failedReason)
	}
	st.Steps = r.steps(pod)
	st.Output = r.output(ctx, pod, "")
	if outcome.Succeeded() {
		return r.finish(ctx, run, st, v1alpha1.Succeeded, "Succeeded", "every step passed")
	}
	msg := fmt.Sprintf("step %s exited %d", outcome.Step, outcome.ExitCode)
	if outcome.Meaning != "" {
		msg += " (" + outcome.Meaning + ")"
	}
	if m := strings.TrimSpace(outcome.Message); m != "" {
		msg += ": " + lastLine(m)
	}
	return r.finish(ctx, run, st, v1alpha1.Failed, "StepFailed", msg)
}

// followTaskRun is follow for a TaskRun: Tekton's Succeeded condition, and its steps' exit codes.
func (r *Reconciler) followTaskRun(ctx context.Context, run *v1alpha1.ActionRun) (ctrl.Result, error) {
	st := run.Status.DeepCopy()
	tr, err := r.Dynamic.Resource(taskRunGVR).Namespace(r.Contract.Namespace).Get(ctx, run.Status.Workload.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return r.finish(ctx, run, st, v1alpha1.Failed, "WorkloadGone", "the run's TaskRun was deleted before it finished")
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	o := readTaskRun(tr)
	if !o.done {
		return ctrl.Result{}, nil
	}
	st.Steps = nil
	failed := ""
	for _, s := range o.steps {
		step := v1alpha1.StepStatus{Name: s.name, ExitCode: s.code}
		if s.code != nil {
			step.Meaning = r.Contract.ExitMeaning(s.name, *s.code)
			if *s.code != 0 && failed == "" {
				failed = fmt.Sprintf("step %s exited %d", s.name, *s.code)
				if step.Meaning != "" {
					failed += " (" + step.Meaning + ")"
				}
			}
		}
		st.Steps = append(st.Steps, step)
	}
	if o.pod != "" {
		if pod, err := r.Kube.CoreV1().Pods(r.Contract.Namespace).Get(ctx, o.pod, metav1.GetOptions{}); err == nil {
			st.Output = r.output(ctx, pod, "step-")
		}
	}
	if o.succeeded {
		return r.finish(ctx, run, st, v1alpha1.Succeeded, "Succeeded", "every step passed")
	}
	if failed == "" {
		failed = o.message
	}
	return r.finish(ctx, run, st, v1alpha1.Failed, "StepFailed", failed)
}

func (r *Reconciler) finish(ctx context.Context, run *v1alpha1.ActionRun, st *v1alpha1.ActionRunStatus, phase v1alpha1.Phase, reason, msg string) (ctrl.Result, error) {
	if out := strings.TrimSpace(st.Output); out != "" {
		msg += "; output ends: " + lastLine(out)
	}
	msg = r.Redactor.Redact(msg)
	st.Phase = phase
	st.CompletionTime = ptr.To(metav1.NewTime(r.now()))
	setCondition(st, run, v1alpha1.ConditionComplete, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStarted)
	kind := corev1.EventTypeNormal
	if phase != v1alpha1.Succeeded {
		kind = corev1.EventTypeWarning
	}
	r.event(run, kind, string(phase), msg)
	runsFinished.WithLabelValues(run.Spec.Action, string(phase)).Inc()
	if st.StartTime != nil {
		runDuration.WithLabelValues(run.Spec.Action, string(phase)).Observe(st.CompletionTime.Sub(st.StartTime.Time).Seconds())
	}
	if err := r.writeStatus(ctx, run, st); err != nil {
		return ctrl.Result{}, err
	}
	run.Status = *st
	return ctrl.Result{}, r.teardown(ctx, run)
}

// budgetRetry paces runs waiting for a slot of the run budget.
const budgetRetry = 5 * time.Second

// overBudget reports a create the run budget (the release namespace's ResourceQuota) refused.
func overBudget(err error) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota")
}

// waitForBudget records that a run waits for the run budget, and tries again shortly.
func (r *Reconciler) waitForBudget(ctx context.Context, run *v1alpha1.ActionRun, st *v1alpha1.ActionRunStatus, err error) (ctrl.Result, error) {
	st.Phase = v1alpha1.Pending
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionStarted); c == nil || c.Reason != "RunBudgetExhausted" {
		r.event(run, corev1.EventTypeNormal, "RunBudgetExhausted", "waiting for a slot of the run budget: "+err.Error())
	}
	setCondition(st, run, v1alpha1.ConditionStarted, metav1.ConditionFalse, "RunBudgetExhausted", "waiting for a slot of the run budget: "+err.Error())
	runsWaiting.Inc()
	return ctrl.Result{RequeueAfter: budgetRetry}, r.writeStatus(ctx, run, st)
}

// refuse ends a run before anything was created.
func (r *Reconciler) refuse(ctx context.Context, run *v1alpha1.ActionRun, st *v1alpha1.ActionRunStatus, reason, msg string) (ctrl.Result, error) {
	msg = r.Redactor.Redact(msg)
	setCondition(st, run, v1alpha1.ConditionAllowed, metav1.ConditionFalse, reason, msg)
	return r.finish(ctx, run, st, v1alpha1.Refused, reason, msg)
}

// teardown removes a finished run's identity and then its finalizer.
func (r *Reconciler) teardown(ctx context.Context, run *v1alpha1.ActionRun) error {
	if !controllerutil.ContainsFinalizer(run, Finalizer) {
		return nil
	}
	if w := run.Status.Workload; w != nil {
		ref, _, err := r.workload(ctx, w)
		if err != nil {
			return err
		}
		// A workload already gone took its owned ServiceAccount; bindings elsewhere are found by the
		// run label all the same.
		if err := r.RBAC.TeardownRun(ctx, ref); err != nil {
			return fmt.Errorf("tear down run %s: %w", w.Name, err)
		}
	}
	controllerutil.RemoveFinalizer(run, Finalizer)
	return r.Client.Update(ctx, run)
}

// finalize handles a deleted ActionRun: a run in flight cannot be stopped (admission keeps its Job), so
// its identity is torn down once the Job finished.
func (r *Reconciler) finalize(ctx context.Context, run *v1alpha1.ActionRun) (ctrl.Result, error) {
	if w := run.Status.Workload; w != nil && !run.Status.Phase.Final() {
		_, done, err := r.workload(ctx, w)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !done {
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
	}
	return ctrl.Result{}, r.teardown(ctx, run)
}

// workload is the run's Job or TaskRun as a runrbac.Run (UID "gone" once deleted) and whether it
// finished (or is gone).
func (r *Reconciler) workload(ctx context.Context, w *v1alpha1.Workload) (runrbac.Run, bool, error) {
	gvk := jobGVK
	if w.Kind == taskRunGVK.Kind {
		gvk = taskRunGVK
	}
	gone := runrbac.Run{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: r.Contract.Namespace, Name: w.Name, UID: "gone"}
	if gvk == taskRunGVK {
		tr, err := r.Dynamic.Resource(taskRunGVR).Namespace(r.Contract.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return gone, true, nil
		}
		if err != nil {
			return runrbac.Run{}, false, err
		}
		return runOfTaskRun(tr), readTaskRun(tr).done, nil
	}
	job, err := r.Kube.BatchV1().Jobs(r.Contract.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return gone, true, nil
	}
	if err != nil {
		return runrbac.Run{}, false, err
	}
	done, _ := finished(job)
	return runrbac.RunOf(job, jobGVK), done, nil
}

// approval finds an approval that counts for run, and the ones that name it but do not count.
func (r *Reconciler) approval(ctx context.Context, run *v1alpha1.ActionRun) (*Approval, []Approval, error) {
	var list v1alpha1.ActionApprovalList
	if err := r.Client.List(ctx, &list, client.InNamespace(run.Namespace)); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(list.Items, func(a, b v1alpha1.ActionApproval) int { return strings.Compare(a.Name, b.Name) })
	var refused []Approval
	for i := range list.Items {
		a := &list.Items[i]
		if a.Spec.ActionRun.Name != run.Name {
			continue
		}
		j := Judge(run, a, r.now(), r.machine)
		if j.Refused == "" {
			return &j, refused, nil
		}
		refused = append(refused, j)
	}
	return nil, refused, nil
}

// machine: the controller's and every run's identity of this release.
func (r *Reconciler) machine(user string) bool {
	prefix := "system:serviceaccount:" + r.Contract.Namespace + ":"
	if !strings.HasPrefix(user, prefix) {
		return false
	}
	sa := strings.TrimPrefix(user, prefix)
	return sa == r.Contract.Release+"-controller" || strings.HasPrefix(sa, r.Contract.RunServiceAccountPrefix) || strings.HasPrefix(sa, r.Contract.ActionClusterRolePrefix)
}

func (r *Reconciler) steps(pod *corev1.Pod) []v1alpha1.StepStatus {
	var out []v1alpha1.StepStatus
	for _, s := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		step := v1alpha1.StepStatus{Name: s.Name}
		if t := s.State.Terminated; t != nil {
			step.ExitCode = ptr.To(t.ExitCode)
			step.Meaning = r.Contract.ExitMeaning(s.Name, t.ExitCode)
		}
		out = append(out, step)
	}
	return out
}

// output is the redacted tail of every step's log, each line prefixed with its step; prefix is what
// the pod's container names add to the step's ("step-" under Tekton, nothing in a Job).
func (r *Reconciler) output(ctx context.Context, pod *corev1.Pod, prefix string) string {
	var b strings.Builder
	for _, s := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		if s.State.Terminated == nil || !strings.HasPrefix(s.Name, prefix) {
			continue
		}
		step := strings.TrimPrefix(s.Name, prefix)
		stream, err := r.Kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: s.Name, TailLines: ptr.To(int64(20)), LimitBytes: ptr.To(int64(16384))}).Stream(ctx)
		if err != nil {
			fmt.Fprintf(&b, "[%s] (log unavailable: %v)\n", step, err)
			continue
		}
		var raw bytes.Buffer
		_, _ = io.Copy(&raw, stream)
		_ = stream.Close()
		for _, line := range strings.Split(strings.TrimRight(r.Redactor.Redact(raw.String()), "\n"), "\n") {
			if line != "" {
				fmt.Fprintf(&b, "[%s] %s\n", step, line)
			}
		}
	}
	out := b.String()
	if len(out) > outputBytes {
		out = out[len(out)-outputBytes:]
	}
	return out
}

func (r *Reconciler) writeStatus(ctx context.Context, run *v1alpha1.ActionRun, st *v1alpha1.ActionRunStatus) error {
	r.Redactor.Conditions(st.Conditions)
	patch := client.MergeFrom(run.DeepCopy())
	run.Status = *st
	return r.Client.Status().Patch(ctx, run, patch)
}

// event records an Event on the run (events.k8s.io), its note redacted; action is what the
// controller did.
func (r *Reconciler) event(run *v1alpha1.ActionRun, kind, reason, msg string) {
	r.Recorder.Eventf(run, nil, kind, reason, "Reconcile", "%s", r.Redactor.Redact(msg))
}

func (r *Reconciler) redactAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = r.Redactor.Redact(s)
	}
	return out
}

// Parameters are the run's parameters as the steps take them (strings), with a Namespaced action's
// namespace from the ActionRun's own. Every declared parameter is present (empty when optional and
// unset): the Task and the Job declare them all.
func Parameters(a catalogue.Action, run *v1alpha1.ActionRun) (map[string]string, error) {
	out := map[string]string{}
	declared := map[string]bool{}
	for _, p := range a.Parameters {
		declared[p.Name] = true
		out[p.Name] = ""
	}
	for name, v := range run.Spec.Parameters {
		if !declared[name] || (a.Scope == catalogue.Namespaced && name == catalogue.NamespaceParameter) {
			return nil, fmt.Errorf("spec.parameters.%s: not a parameter of %s", name, a.Name)
		}
		if v.Type == intstr.String {
			out[name] = v.StrVal
		} else {
			out[name] = strconv.Itoa(int(v.IntVal))
		}
	}
	if a.Scope == catalogue.Namespaced {
		out[catalogue.NamespaceParameter] = run.Namespace
	}
	return out, nil
}

// JobName is the run's Job: the action and a digest of the ActionRun's namespace, name and UID, so that
// the same run always gets the same Job and another run never does.
func JobName(run *v1alpha1.ActionRun) string {
	sum := sha256.Sum256([]byte(run.Namespace + "/" + run.Name + "/" + string(run.UID)))
	action := run.Spec.Action
	if len(action) > 40 {
		action = strings.TrimRight(action[:40], "-")
	}
	return action + "-" + hex.EncodeToString(sum[:])[:12]
}

// RunRef is where a run's approval-gate step finds the ActionRun ("<namespace>/<name>") and the
// ActionApproval the controller went ahead with (empty when none was needed). The step reads both
// with the run's own token and decides again: these names are a pointer, not a verdict.
type RunRef struct{ Run, Approval string }

func runRef(run *v1alpha1.ActionRun, approval *Approval) RunRef {
	ref := RunRef{Run: run.Namespace + "/" + run.Name}
	if approval != nil {
		ref.Approval = approval.Name
	}
	return ref
}

func runAnnotation(run *v1alpha1.ActionRun) string {
	return run.Namespace + "/" + run.Name + "/" + string(run.UID)
}

func parseRunAnnotation(s string) (ns, name, uid string, ok bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// finished reports whether a Job is done, and why it failed when it did.
func finished(job *batchv1.Job) (bool, string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, ""
		case batchv1.JobFailed:
			return true, c.Reason + ": " + c.Message
		}
	}
	return false, ""
}

func setCondition(st *v1alpha1.ActionRunStatus, run *v1alpha1.ActionRun, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: run.Generation})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
