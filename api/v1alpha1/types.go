package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kinds and resources of the API.
const (
	ActionRunKind          = "ActionRun"
	ActionRunResource      = "actionruns"
	ActionApprovalKind     = "ActionApproval"
	ActionApprovalResource = "actionapprovals"
)

// Phase is where an ActionRun is in its life. Refused, Succeeded and Failed are final.
type Phase string

const (
	// Pending: accepted by the API server, not yet started by the controller (the Started condition
	// says when it waits for the run budget).
	Pending Phase = "Pending"
	// Refused: the gate refused the run (or it cannot run at all); nothing was created.
	Refused Phase = "Refused"
	// AwaitingApproval: the gate allows the run but a person must approve it first; nothing was created.
	AwaitingApproval Phase = "AwaitingApproval"
	// Running: the run's identity and workload exist.
	Running Phase = "Running"
	// Succeeded: the action's command exited 0.
	Succeeded Phase = "Succeeded"
	// Failed: a step refused or failed; status.steps says which and why.
	Failed Phase = "Failed"
)

// Final reports whether no further change of phase can happen.
func (p Phase) Final() bool { return p == Refused || p == Succeeded || p == Failed }

// Condition types of an ActionRun.
const (
	// ConditionAllowed: the in-process gate's decision (False with reason Refused or NotEvaluable).
	ConditionAllowed = "Allowed"
	// ConditionApproved: True when no approval is needed or a valid one names this run.
	ConditionApproved = "Approved"
	// ConditionStarted: False while a run the gate allowed waits for a slot of the run budget (reason
	// RunBudgetExhausted); removed once it runs.
	ConditionStarted = "Started"
	// ConditionComplete: True once the run reached a final phase; its reason says how (Succeeded,
	// StepFailed, WorkloadGone, or the refusal's reason).
	ConditionComplete = "Complete"
)

// Modes a run executes in.
const (
	ModeTekton = "tekton"
	ModeJob    = "job"
)

// ActionRun asks for one run of one catalogue action on one target. Namespaced actions act on the
// ActionRun's own namespace; cluster-scoped actions are asked for from the release namespace only.
// The spec cannot change once created.
//
// +kubebuilder:object:root=true
type ActionRun struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ActionRunSpec   `json:"spec"`
	Status ActionRunStatus `json:"status,omitempty"`
}

// ActionRunSpec is the request: the action, its parameters and who asked.
type ActionRunSpec struct {
	// Action is the catalogue action's name.
	Action string `json:"action"`
	// Parameters are the action's parameters by name, integers as numbers. A Namespaced action's
	// namespace is the ActionRun's own namespace and is not a parameter here.
	Parameters map[string]intstr.IntOrString `json:"parameters,omitempty"`
	// Mode is how the run executes, tekton (a TaskRun) or job (a Job); empty takes the release's default.
	Mode string `json:"mode,omitempty"`
	// Release is the Helm release whose controller runs it; the API server defaults it to the release
	// that installed the API (crds.install). Each release's controller runs only its own.
	Release string `json:"release,omitempty"`
	// Requester is the user that created the ActionRun, exactly as the API server authenticated it
	// (`kubectl auth whoami`); admission refuses any other value. It may never approve the run.
	Requester string `json:"requester"`
}

// ActionRunStatus is what the controller decided and observed.
type ActionRunStatus struct {
	// ObservedGeneration is the generation the controller last acted on.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Phase is where the run is.
	Phase Phase `json:"phase,omitempty"`
	// Conditions: Allowed, Approved, Complete.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// SpecHash is the SHA-256 of the spec; an ActionApproval must name it.
	SpecHash string `json:"specHash,omitempty"`
	// Decision is the in-process gate's decision, taken before anything was created.
	Decision *Decision `json:"decision,omitempty"`
	// Approval names the ActionApproval the run went ahead with, and ApprovedBy its approver.
	Approval   string `json:"approval,omitempty"`
	ApprovedBy string `json:"approvedBy,omitempty"`
	// ServiceAccount is the run's own ServiceAccount in the release namespace (removed at the end).
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Workload is the TaskRun or Job that carries the run, in the release namespace.
	Workload *Workload `json:"workload,omitempty"`
	// Steps are the run's steps in order, with their exit codes.
	Steps []StepStatus `json:"steps,omitempty"`
	// StartTime is when the workload was created; CompletionTime when the run reached a final phase.
	StartTime      *metav1.Time `json:"startTime,omitempty"`
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Output is the tail of the action's output, secrets redacted.
	Output string `json:"output,omitempty"`
}

// Decision is the gate's answer.
type Decision struct {
	Allowed           bool     `json:"allowed"`
	Refusals          []string `json:"refusals,omitempty"`
	ApprovalRequired  []string `json:"approvalRequired,omitempty"`
	ApprovalSatisfied bool     `json:"approvalSatisfied"`
	NotEvaluable      string   `json:"notEvaluable,omitempty"`
}

// Workload names the object that carries a run.
type Workload struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// StepStatus is one step's outcome.
type StepStatus struct {
	Name string `json:"name"`
	// ExitCode is the step container's exit code, absent when it did not run.
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Meaning is what the exit code means for this step (from the execution contract).
	Meaning string `json:"meaning,omitempty"`
}

// ActionRunList is a list of ActionRuns.
//
// +kubebuilder:object:root=true
type ActionRunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ActionRun `json:"items"`
}

// ActionApproval is a person's approval of one exact ActionRun: its name and UID, the hash of its spec,
// for a bounded time from the approval's creation. It lives in the run's namespace; who may create one
// is RBAC on actionapprovals. The spec cannot change once created.
//
// +kubebuilder:object:root=true
type ActionApproval struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ActionApprovalSpec `json:"spec"`
}

// ActionApprovalSpec names what is approved, by whom, for how long.
type ActionApprovalSpec struct {
	// ActionRun is the approved run.
	ActionRun RunReference `json:"actionRun"`
	// SpecHash is the run's status.specHash as the approver read it: a run whose spec differs is not
	// approved.
	SpecHash string `json:"specHash"`
	// Approver is the user that created the approval, exactly as the API server authenticated it;
	// admission refuses any other value, the controller's and every run's identity.
	Approver string `json:"approver"`
	// ExpiresAfterSeconds bounds the approval from its creationTimestamp, which the API server sets.
	ExpiresAfterSeconds int64 `json:"expiresAfterSeconds"`
	// Reason is the approver's note.
	Reason string `json:"reason,omitempty"`
}

// RunReference names one ActionRun by name and UID.
type RunReference struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// ActionApprovalList is a list of ActionApprovals.
//
// +kubebuilder:object:root=true
type ActionApprovalList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ActionApproval `json:"items"`
}
