package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
)

// SpecHash is the SHA-256 of an ActionRun's spec, written "sha256:<hex>": what an ActionApproval
// names, so that an approval holds for exactly one request. It is canonical, so that the approval-gate
// step in the run's pod computes the same from the ActionRun it reads (spec_hash in
// policies/lib/gate.rego): the JSON of an object of the spec's five fields, every one present, keys
// sorted, written as encoding/json writes it (which is also how OPA's json.marshal writes).
func SpecHash(spec v1alpha1.ActionRunSpec) string {
	params := spec.Parameters
	if params == nil {
		params = map[string]intstr.IntOrString{}
	}
	data, _ := json.Marshal(map[string]any{ // strings, a map of scalars: always marshals
		"action": spec.Action, "mode": spec.Mode, "parameters": params, "release": spec.Release, "requester": spec.Requester,
	})
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Approval is the judgement of one ActionApproval for one run.
type Approval struct {
	Name, Approver string
	// Refused says why the approval does not count; empty when it does.
	Refused string
}

// machineIdentity reports whether user is the controller or a run of this release: admission already
// refuses their approvals; the controller refuses them again.
type machineIdentity func(user string) bool

// Judge decides whether approval a approves run at now. An approval counts only when it names the run
// by name and UID, carries the hash of the run's current spec, has not expired (from its
// creationTimestamp, which the API server sets) and is not by the run's own requester or a machine.
func Judge(run *v1alpha1.ActionRun, a *v1alpha1.ActionApproval, now time.Time, machine machineIdentity) Approval {
	out := Approval{Name: a.Name, Approver: a.Spec.Approver}
	refuse := func(format string, args ...any) Approval {
		out.Refused = fmt.Sprintf(format, args...)
		return out
	}
	switch {
	case a.Namespace != run.Namespace || a.Spec.ActionRun.Name != run.Name:
		return refuse("names another run (%s)", a.Spec.ActionRun.Name)
	case a.Spec.ActionRun.UID != string(run.UID):
		return refuse("names run UID %s, not this run's %s (an earlier run of the same name)", a.Spec.ActionRun.UID, run.UID)
	case a.Spec.SpecHash != SpecHash(run.Spec):
		return refuse("is for spec %s, not this run's %s", a.Spec.SpecHash, SpecHash(run.Spec))
	case a.Spec.Approver == "" || a.Spec.Approver == run.Spec.Requester:
		return refuse("is by the run's own requester %s: a run is approved by someone else", run.Spec.Requester)
	case machine != nil && machine(a.Spec.Approver):
		return refuse("is by a machine identity %s", a.Spec.Approver)
	case !now.Before(a.CreationTimestamp.Add(time.Duration(a.Spec.ExpiresAfterSeconds) * time.Second)):
		return refuse("expired at %s", a.CreationTimestamp.Add(time.Duration(a.Spec.ExpiresAfterSeconds)*time.Second).UTC().Format(time.RFC3339))
	}
	return out
}

// summary lists refused approvals for a condition message.
func summary(refused []Approval) string {
	var parts []string
	for _, a := range refused {
		parts = append(parts, fmt.Sprintf("approval %s by %s %s", a.Name, a.Approver, a.Refused))
	}
	return strings.Join(parts, "; ")
}
