# METADATA
# title: The policy gate
# description: >-
#   Takes the decision for one action run, failing closed: the run is refused on any deny message, a
#   missing action or policy, a policy that gives no answer, a malformed parameter or target. Approval
#   is reported apart from refusal. The Task's policy-gate step evaluates `policy_step`, its
#   approval-gate step `approval_step`; each exits 1 when its rule is not true, and opa exits 2 when
#   the policies cannot be loaded or evaluated. Any non-zero exit stops the run.
package kubernaut.gate

import data.kubernaut.lib

# The action's catalogue entry, from the generated _catalogue.json in the same ConfigMap.
spec := data.kubernaut.catalogue.actions[input.action]

# The action's policy package; a hyphen cannot appear in a Rego package name.
policy := data.kubernaut.actions[replace(input.action, "-", "_")]

allowed if count(refusals) == 0

approval_satisfied if count(approval_reasons) == 0

approval_satisfied if input.approved == true

decision := {
	"allowed": count(refusals) == 0,
	"refusals": refusals,
	"approvalRequired": approval_reasons,
}

# Checks for what is absent read it through object.get: `not f(input.x)` does not succeed when
# input.x is missing (the reference is evaluated outside the negation), which would fail open.
refusals contains sprintf("unknown action %q", [object.get(input, "action", "")]) if not spec

refusals contains sprintf("no policy is loaded for action %q", [input.action]) if {
	spec
	not policy
}

# Every policy answers both questions; an undefined answer is a refusal, never an allow.
refusals contains sprintf("the policy of %q gives no %s decision", [input.action, rule]) if {
	policy
	some rule in ["deny", "requires_approval"]

	# object.get, not policy[rule]: an absent rule must count as "no answer" here.
	not is_set(object.get(policy, rule, null))
}

refusals contains msg if some msg in policy.deny

refusals contains msg if some msg in parameter_errors

refusals contains msg if some msg in target_errors

approval_reasons contains reason if some reason in policy.requires_approval

approval_reasons contains "the catalogue requires approval for this action" if spec.approval

approval_reasons contains sprintf("the catalogue requires approval for %s in production", [input.action]) if {
	spec.approvalInProduction
	object.get(input, ["target", "environment"], "") == "production"
}

# The environments a target may be in, from the generated catalogue data.
environments := {e | some e in data.kubernaut.catalogue.environments}

target_errors contains "target context is missing or not an object" if not is_object(object.get(input, "target", null))

target_errors contains sprintf("target environment %v is not one of %v", [environment, environments]) if {
	environment := object.get(input, ["target", "environment"], null)
	not environment in environments
}

target_errors contains "target labels must be an object of strings" if {
	labels := object.get(input, ["target", "labels"], {})
	not is_object(labels)
}

target_errors contains "target labels must be an object of strings" if {
	some value in object.get(input, ["target", "labels"], {})
	not is_string(value)
}

# The action's catalogue context: state of the target its policy reads, which the controller supplies.
target_errors contains sprintf("target field %q (%s) is missing or has the wrong type", [name, field.type]) if {
	some name, field in spec.context
	not type_name(object.get(input, ["target", name], null)) in json_types[field.type]
}

json_types := {"string": {"string"}, "integer": {"number"}, "boolean": {"boolean"}}

# The chart's configuration (from values, rendered into _config.json of the same ConfigMap): the
# namespaces no per-run binding may be made in. Without it every run is refused.
protected_namespaces := {ns | some ns in data.kubernaut.config.protectedNamespaces}

configured if is_array(data.kubernaut.config.protectedNamespaces)

refusals contains "the chart configuration (protected namespaces) is not loaded" if not configured

# The admission policy refuses a per-run binding in these namespaces; the gate refuses the run before
# it starts, so both agree. Cluster-scoped actions have no namespace and are unaffected.
refusals contains sprintf("refusing to run %s in protected namespace %q", [input.action, ns]) if {
	spec.scope == "Namespaced"
	ns := object.get(input, ["parameters", "namespace"], "")
	ns in protected_namespaces
}

parameter_errors contains "parameters must be an object" if not is_object(object.get(input, "parameters", null))

parameter_errors contains sprintf("unknown parameter %q", [name]) if {
	some name, _ in input.parameters
	not spec.parameters[name]
}

parameter_errors contains sprintf("parameter %q is required", [name]) if {
	some name, p in spec.parameters
	p.required
	not name in object.keys(object.get(input, "parameters", {}))
}

# Declared parameters with string values, which the shape checks below look at. Values reach kubectl
# as argv elements, always as strings, so they are checked as strings.
declared[name] := {"value": value, "spec": p} if {
	some name, value in input.parameters
	is_string(value)
	p := spec.parameters[name]
}

parameter_errors contains sprintf("parameter %q must be a string", [name]) if {
	some name, value in input.parameters
	not is_string(value)
}

# A value starting with "-" could be read as a flag wherever it lands.
parameter_errors contains sprintf("parameter %q must not start with \"-\"", [name]) if {
	some name, value in input.parameters
	is_string(value)
	startswith(value, "-")
}

parameter_errors contains sprintf("parameter %q is longer than 4096 characters", [name]) if {
	some name, c in declared
	count(c.value) > 4096
}

parameter_errors contains sprintf("parameter %q must be a whole number, got %q", [name, c.value]) if {
	some name, c in declared
	c.spec.type == "integer"
	not regex.match(lib.integer_shape, c.value)
}

parameter_errors contains sprintf("parameter %q must be at least %d, got %s", [name, c.spec.minimum, c.value]) if {
	some name, c in declared
	c.spec.type == "integer"
	regex.match(lib.integer_shape, c.value)
	to_number(c.value) < c.spec.minimum
}

parameter_errors contains sprintf("parameter %q must be at most %d, got %s", [name, c.spec.maximum, c.value]) if {
	some name, c in declared
	c.spec.type == "integer"
	regex.match(lib.integer_shape, c.value)
	to_number(c.value) > c.spec.maximum
}

parameter_errors contains sprintf("parameter %q must be true or false, got %q", [name, c.value]) if {
	some name, c in declared
	c.spec.type == "boolean"
	not c.value in {"true", "false"}
}

parameter_errors contains sprintf("parameter %q does not match %s", [name, c.spec.pattern]) if {
	some name, c in declared
	c.spec.pattern
	not regex.match(c.spec.pattern, c.value)
}

parameter_errors contains sprintf("parameter %q must be one of %v", [name, c.spec.enum]) if {
	some name, c in declared
	c.spec.enum
	not c.value in c.spec.enum
}

# What the Task's steps evaluate, on the input built from the step's environment. The decision is
# printed to the step's log; the query fails (exit 1) unless the rule is true.
policy_step if {
	d := decision with input as runtime_input
	print("policy gate:", d)
	d.allowed
}

approval_step if {
	reasons := approval_reasons with input as runtime_input
	print("approval required for:", reasons)
	count(reasons) == 0
}

# A run that needs approval goes ahead only on an ActionApproval this step reads itself, with the
# pod's own token (the run's identity), and finds to approve exactly what this pod runs. Nothing the
# workload says counts: KUBERNAUT_RUN and KUBERNAUT_APPROVAL only say where to look, so a Job or
# TaskRun made with a stolen controller token that names no approval, another run's, a stale or an
# expired one, is refused here.
#
# Both ways round, so that neither a missing check nor an undefined read can let a run through: the
# approval must be found valid (approval_valid, every condition positive), and no problem may be found.
approval_step if {
	count(approval_reasons) > 0 with input as runtime_input
	problems := approval_problems with input as runtime_input
	print("approval problems:", problems)
	approval_valid with input as runtime_input
	count(problems) == 0
	print("approved by", approval_object.spec.approver, "in ActionApproval", approval_name)
}

# The input of a real run, built from the step's environment: Tekton puts each parameter into an
# environment variable of its own (never into a shell or into this query), the controller the target
# context as JSON. The Task's steps evaluate `allowed with input as runtime_input`. There is no
# "approved" here: in a pod, approval is only what approval_problems finds on the API server.
env := opa.runtime().env

runtime_input := {
	"action": object.get(env, "KUBERNAUT_ACTION", ""),
	"parameters": runtime_parameters,
	"target": lib.json_or_null(object.get(env, "KUBERNAUT_TARGET", "")),
}

param_prefix := "KUBERNAUT_PARAM_"

# Each parameter arrives in an environment variable of its own.
runtime_parameters := {substring(key, count(param_prefix), -1): value |
	some key, value in env
	startswith(key, param_prefix)
}

# The approval, read from the API server. KUBERNAUT_RUN is "<namespace>/<name>" of the ActionRun,
# KUBERNAUT_APPROVAL the name of its ActionApproval in that namespace; both are checked to be object
# names before they become part of a URL.
object_name := `^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`

run_ref := split(object.get(env, "KUBERNAUT_RUN", ""), "/")

approval_name := object.get(env, "KUBERNAUT_APPROVAL", "")

run_ref_valid if {
	count(run_ref) == 2
	every part in run_ref {
		regex.match(object_name, part)
	}
}

approval_problems contains "KUBERNAUT_RUN does not name an ActionRun as <namespace>/<name>" if not run_ref_valid

approval_problems contains "KUBERNAUT_APPROVAL does not name an ActionApproval" if not regex.match(object_name, approval_name)

api_path(resource, name) := sprintf("/apis/execution.kubernaut.io/v1alpha1/namespaces/%s/%s/%s", [run_ref[0], resource, name])

run_response := api_get(api_path("actionruns", run_ref[1])) if run_ref_valid

approval_response := api_get(api_path("actionapprovals", approval_name)) if {
	run_ref_valid
	regex.match(object_name, approval_name)
}

run_object := run_response.body if run_response.status_code == 200

approval_object := approval_response.body if approval_response.status_code == 200

approval_problems contains sprintf("cannot read ActionRun %s: %v", [concat("/", run_ref), run_answer]) if {
	run_ref_valid
	not run_object
}

approval_problems contains sprintf("cannot read ActionApproval %s: %v", [approval_name, approval_answer]) if {
	run_ref_valid
	regex.match(object_name, approval_name)
	not approval_object
}

run_answer := status_of(run_response) if run_response

else := no_answer

approval_answer := status_of(approval_response) if approval_response

else := no_answer

no_answer := "no answer: no token loaded, or no API server address (KUBERNETES_SERVICE_HOST)"

status_of(response) := object.get(response, "body", object.get(response, "error", response))

# The approval counts: every condition below holds, each read positively (approval_problems says
# which does not).
approval_valid if {
	approval := approval_object
	run := run_object
	approval.spec.actionRun == {"name": run.metadata.name, "uid": run.metadata.uid}
	approval.spec.specHash == spec_hash(run.spec)
	is_string(approval.spec.approver)
	approval.spec.approver != ""
	approval.spec.approver != run.spec.requester
	time.now_ns() < expiry_ns
	run.spec.action == input.action
	requested_parameters == running_parameters
}

running_parameters := {name: value | some name, value in input.parameters; value != ""}

# The approval names this very run (name and UID) and the hash of its spec as the API server holds it.
approval_problems contains sprintf("the approval names run %v, not %s", [approval_object.spec.actionRun, run_object.metadata.name]) if {
	not approval_object.spec.actionRun == {"name": run_object.metadata.name, "uid": run_object.metadata.uid}
}

approval_problems contains sprintf("the approval is for spec %v, not the run's %s", [object.get(approval_object.spec, "specHash", ""), spec_hash(run_object.spec)]) if {
	object.get(approval_object.spec, "specHash", "") != spec_hash(run_object.spec)
}

approval_problems contains sprintf("the approval is by the run's own requester %q", [run_object.spec.requester]) if {
	object.get(approval_object.spec, "approver", "") in {"", run_object.spec.requester}
}

approval_problems contains sprintf("the approval expired at %s", [expiry_text]) if {
	time.now_ns() >= expiry_ns
}

approval_problems contains "the approval has no valid creationTimestamp or expiresAfterSeconds" if {
	approval_object
	not expiry_ns
}

expiry_ns := time.parse_rfc3339_ns(approval_object.metadata.creationTimestamp) + (approval_object.spec.expiresAfterSeconds * 1000000000)

expiry_text := time.format([expiry_ns, "UTC", "2006-01-02T15:04:05Z07:00"])

# What was approved is what this pod runs: the action, and the parameters as the controller hands
# them to the steps (strings, a Namespaced action's namespace from the ActionRun's own, unset ones
# empty).
approval_problems contains sprintf("the ActionRun asks for %v, this pod runs %v", [run_object.spec.action, input.action]) if {
	run_object.spec.action != input.action
}

approval_problems contains sprintf("the ActionRun's parameters %v are not this pod's %v", [requested, running]) if {
	requested := requested_parameters
	running := running_parameters
	requested != running
}

requested_parameters := object.union(
	{name: parameter_text(value) | some name, value in object.get(run_object.spec, "parameters", {})},
	{"namespace": run_object.metadata.namespace | spec.scope == "Namespaced"},
)

parameter_text(v) := format_int(v, 10) if is_number(v)

parameter_text(v) := v if is_string(v)

# The canonical spec hash, which the controller computes alike (controller.SpecHash): the JSON of
# the spec's five fields with sorted keys, as encoding/json writes it, hashed with SHA-256.
spec_hash(s) := concat("", ["sha256:", crypto.sha256(json.marshal({
	"action": object.get(s, "action", ""),
	"mode": object.get(s, "mode", ""),
	"parameters": object.get(s, "parameters", {}),
	"release": object.get(s, "release", ""),
	"requester": object.get(s, "requester", ""),
}))])

# A GET on the API server with the pod's ServiceAccount token, verified against the cluster's CA.
# Errors are answers (status 0 with the error), so a failed read is a problem listed, never an allow.
service_account_dir := "/var/run/secrets/kubernetes.io/serviceaccount"

api_get(path) := http.send({
	"method": "GET",
	"url": concat("", ["https://", api_host, path]),
	"headers": {"Authorization": concat(" ", ["Bearer", trim_space(data.kubernaut.token)]), "Accept": "application/json"},
	"tls_ca_cert_file": concat("/", [service_account_dir, "ca.crt"]),
	"timeout": "10s",
	"raise_error": false,
})

api_host := sprintf("[%s]:%s", [env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT]) if contains(env.KUBERNETES_SERVICE_HOST, ":")

else := sprintf("%s:%s", [env.KUBERNETES_SERVICE_HOST, env.KUBERNETES_SERVICE_PORT])
