package kubernaut.gate_test

import data.kubernaut.gate

# A small catalogue and two policies stand in for the generated ones: the gate's logic is tested here,
# the shipped policies with the shipped catalogue by the Go test that runs the real opa CLI.
catalogue := {"environments": ["development", "production", "staging", "unknown"], "actions": {
	"scale": {"scope": "Namespaced", "approval": false, "context": {"currentReplicas": {"type": "integer"}}, "parameters": {
		"namespace": {"type": "string", "required": true, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
		"replicas": {"type": "integer", "required": true, "minimum": 0, "maximum": 100},
		"dry": {"type": "boolean", "required": false},
		"kind": {"type": "string", "required": false, "enum": ["pods", "configmaps"]},
	}},
	"inspect": {"approval": true, "parameters": {}},
	"careful": {"approval": false, "approvalInProduction": true, "parameters": {}},
	"orphan": {"approval": false, "parameters": {}},
	"silent": {"approval": false, "parameters": {}},
}}

config := {"protectedNamespaces": ["kube-system", "kubernaut-system"]}

actions := {
	"scale": {"deny": set(), "requires_approval": set()},
	"careful": {"deny": set(), "requires_approval": set()},
	"inspect": {"deny": set(), "requires_approval": {"look first"}},
	"silent": {"deny": set()},
}

base := {
	"action": "scale",
	"parameters": {"namespace": "shop", "replicas": "3"},
	"target": {"environment": "staging", "labels": {"app": "web"}, "currentReplicas": 2},
	"approved": false,
}

decide(inp) := d if {
	d := gate.decision with input as inp with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

refused(inp, msg) if msg in decide(inp).refusals

# base with one top-level field replaced (object.union would merge into it).
with_field(field, value) := object.union(object.remove(base, [field]), {field: value})

with_params(p) := with_field("parameters", p)

test_allows_a_valid_run if {
	decide(base) == {"allowed": true, "refusals": set(), "approvalRequired": set()}
	gate.allowed with input as base with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
	gate.approval_satisfied with input as base with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

test_refuses_deny_messages if {
	denying := json.patch(actions, [{"op": "replace", "path": "/scale/deny", "value": {"scaled too far"}}])
	"scaled too far" in gate.refusals with input as base with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as denying with data.kubernaut.config as config
	not gate.allowed with input as base with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as denying with data.kubernaut.config as config
}

test_refuses_unknown_action if refused(object.union(base, {"action": "nope"}), "unknown action \"nope\"")

test_refuses_missing_policy if refused(object.union(with_params({}), {"action": "orphan"}), "no policy is loaded for action \"orphan\"")

test_refuses_policy_without_an_answer if {
	refused(object.union(with_params({}), {"action": "silent"}), "the policy of \"silent\" gives no requires_approval decision")
}

test_refuses_malformed_parameters if {
	refused(with_params({"namespace": "shop", "replicas": "-1"}), "parameter \"replicas\" must not start with \"-\"")
	refused(with_params({"namespace": "shop", "replicas": "-1"}), "parameter \"replicas\" must be a whole number, got \"-1\"")
	refused(with_params({"namespace": "shop", "replicas": "1e9"}), "parameter \"replicas\" must be a whole number, got \"1e9\"")
	refused(with_params({"namespace": "shop", "replicas": "101"}), "parameter \"replicas\" must be at most 100, got 101")
	refused(with_params({"namespace": "my shop", "replicas": "1"}), "parameter \"namespace\" does not match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
	refused(with_params({"namespace": "--all", "replicas": "1"}), "parameter \"namespace\" must not start with \"-\"")
	refused(with_params({"namespace": "shop"}), "parameter \"replicas\" is required")
	refused(with_params({"namespace": "shop", "replicas": 3}), "parameter \"replicas\" must be a string")
	refused(with_params({"namespace": "shop", "replicas": "1", "extra": "x"}), "unknown parameter \"extra\"")
	refused(with_params({"namespace": "shop", "replicas": "1", "dry": "yes"}), "parameter \"dry\" must be true or false, got \"yes\"")
	refused(with_params({"namespace": "shop", "replicas": "1", "kind": "secrets"}), "parameter \"kind\" must be one of [\"pods\", \"configmaps\"]")
	refused(with_params({"namespace": concat("", ["a" | some _ in numbers.range(1, 4097)]), "replicas": "1"}), "parameter \"namespace\" is longer than 4096 characters")
	refused(with_params("namespace=shop"), "parameters must be an object")
}

test_minimum if {
	min_catalogue := json.patch(catalogue, [{"op": "replace", "path": "/actions/scale/parameters/replicas/minimum", "value": 2}])
	"parameter \"replicas\" must be at least 2, got 1" in gate.refusals with input as with_params({"namespace": "shop", "replicas": "1"}) with data.kubernaut.catalogue as min_catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

test_refuses_malformed_target if {
	refused(with_field("target", "production"), "target context is missing or not an object")
	refused(object.union(base, {"target": {"environment": "prod"}}), "target environment prod is not one of {\"development\", \"production\", \"staging\", \"unknown\"}")
	refused(with_field("target", {"environment": "staging", "labels": {"tier": 1}}), "target labels must be an object of strings")
	refused(with_field("target", {"environment": "staging", "labels": "app=web", "currentReplicas": 2}), "target labels must be an object of strings")
	refused(with_field("target", {"environment": "staging", "currentReplicas": "2"}), "target field \"currentReplicas\" (integer) is missing or has the wrong type")
}

# Absent is never allowed: each field missing from the input is a refusal of its own.
test_refuses_absent_fields if {
	refused(object.remove(base, ["action"]), "unknown action \"\"")
	refused(object.remove(base, ["parameters"]), "parameters must be an object")
	refused(object.remove(base, ["target"]), "target context is missing or not an object")
	refused(with_field("target", {"labels": {}, "currentReplicas": 2}), "target environment null is not one of {\"development\", \"production\", \"staging\", \"unknown\"}")
	refused(with_field("target", {"environment": "staging"}), "target field \"currentReplicas\" (integer) is missing or has the wrong type")
	not gate.allowed with input as {} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

test_approval_is_apart_from_refusal if {
	inp := object.union(with_params({}), {"action": "inspect"})
	d := decide(inp)
	d.allowed
	d.approvalRequired == {"look first", "the catalogue requires approval for this action"}
	not gate.approval_satisfied with input as inp with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
	gate.approval_satisfied with input as object.union(inp, {"approved": true}) with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

test_runtime_input_from_per_action_environment if {
	env := {
		"KUBERNAUT_ACTION": "scale",
		"KUBERNAUT_PARAM_namespace": "shop",
		"KUBERNAUT_PARAM_replicas": "3",
		"KUBERNAUT_TARGET": `{"environment":"staging","labels":{}}`,
		"KUBERNAUT_APPROVED": "true",
		"PATH": "/bin",
	}
	gate.runtime_input == {
		"action": "scale",
		"parameters": {"namespace": "shop", "replicas": "3"},
		"target": {"environment": "staging", "labels": {}},
		"approved": true,
	} with opa.runtime as {"env": env}
}

runtime_env := {
	"KUBERNAUT_ACTION": "inspect",
	"KUBERNAUT_TARGET": `{"environment":"staging","labels":{}}`,
}

test_steps_decide_on_the_runtime_input if {
	gate.policy_step with opa.runtime as {"env": runtime_env} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
	not gate.approval_step with opa.runtime as {"env": runtime_env} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
	approved := object.union(runtime_env, {"KUBERNAUT_APPROVED": "true"})
	gate.approval_step with opa.runtime as {"env": approved} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
	refused := object.union(runtime_env, {"KUBERNAUT_ACTION": "nope"})
	not gate.policy_step with opa.runtime as {"env": refused} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

test_runtime_input_tolerates_a_malformed_target if {
	env := {"KUBERNAUT_ACTION": "scale", "KUBERNAUT_PARAM_replicas": "3", "KUBERNAUT_TARGET": "{not json"}
	inp := gate.runtime_input with opa.runtime as {"env": env}
	inp.parameters == {"replicas": "3"}
	inp.target == null
	inp.approved == false
}

# Protected namespaces come from the chart's configuration, not from the input: the run's own
# parameters cannot talk the gate out of them. Cluster-scoped actions have no namespace.
test_refuses_protected_namespaces if {
	refused(with_params({"namespace": "kube-system", "replicas": "1"}), "refusing to run scale in protected namespace \"kube-system\"")
	refused(with_params({"namespace": "kubernaut-system", "replicas": "1"}), "refusing to run scale in protected namespace \"kubernaut-system\"")
	cluster := json.patch(catalogue, [{"op": "replace", "path": "/actions/scale/scope", "value": "Cluster"}])
	d := gate.decision with input as with_params({"namespace": "kube-system", "replicas": "1"}) with data.kubernaut.catalogue as cluster with data.kubernaut.actions as actions with data.kubernaut.config as config
	d.allowed
}

# Without the chart's configuration the gate cannot know what is protected: it refuses everything.
test_refuses_without_configuration if {
	d := gate.decision with input as base with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions
	"the chart configuration (protected namespaces) is not loaded" in d.refusals
	not d.allowed
}

# The catalogue's approvalInProduction: a production target needs approval, any other does not.
test_approval_in_production_from_the_catalogue if {
	staging := object.union(with_params({}), {"action": "careful"})
	decide(staging).approvalRequired == set()
	production := object.union(staging, {"target": {"environment": "production"}})
	decide(production).approvalRequired == {"the catalogue requires approval for careful in production"}
	decide(production).allowed
}
