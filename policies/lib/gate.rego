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
	approval_satisfied with input as runtime_input
}

# The input of a real run, built from the step's environment: Tekton puts each parameter into an
# environment variable of its own (never into a shell or into this query), the controller the target
# context as JSON. The Task's steps evaluate `allowed with input as runtime_input`.
env := opa.runtime().env

runtime_input := {
	"action": object.get(env, "KUBERNAUT_ACTION", ""),
	"parameters": runtime_parameters,
	"target": lib.json_or_null(object.get(env, "KUBERNAUT_TARGET", "")),
	"approved": object.get(env, "KUBERNAUT_APPROVED", "false") == "true",
}

param_prefix := "KUBERNAUT_PARAM_"

# Each parameter arrives in an environment variable of its own.
runtime_parameters := {substring(key, count(param_prefix), -1): value |
	some key, value in env
	startswith(key, param_prefix)
}
