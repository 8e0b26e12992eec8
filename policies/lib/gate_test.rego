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

	# No "approved": what the workload says about approval is not an input.
	gate.runtime_input == {
		"action": "scale",
		"parameters": {"namespace": "shop", "replicas": "3"},
		"target": {"environment": "staging", "labels": {}},
	} with opa.runtime as {"env": env}
}

runtime_env := {
	"KUBERNAUT_ACTION": "inspect",
	"KUBERNAUT_TARGET": `{"environment":"staging","labels":{}}`,
}

test_steps_decide_on_the_runtime_input if {
	gate.policy_step with opa.runtime as {"env": runtime_env} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
	not gate.approval_step with opa.runtime as {"env": runtime_env} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config

	# A workload that merely says it is approved is not (the variable of earlier versions).
	says_approved := object.union(runtime_env, {"KUBERNAUT_APPROVED": "true"})
	not gate.approval_step with opa.runtime as {"env": says_approved} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
	refused := object.union(runtime_env, {"KUBERNAUT_ACTION": "nope"})
	not gate.policy_step with opa.runtime as {"env": refused} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

test_runtime_input_tolerates_a_malformed_target if {
	env := {"KUBERNAUT_ACTION": "scale", "KUBERNAUT_PARAM_replicas": "3", "KUBERNAUT_TARGET": "{not json"}
	inp := gate.runtime_input with opa.runtime as {"env": env}
	inp.parameters == {"replicas": "3"}
	inp.target == null
	not "approved" in object.keys(inp)
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

# The approval-gate step reads the ActionRun and ActionApproval from the API server; here a fake
# http.send answers from api_objects (by URL) and time.now_ns is fixed.
api := "https://10.0.0.1:443/apis/execution.kubernaut.io/v1alpha1/namespaces/shop"

run_object := {
	"metadata": {"name": "look", "namespace": "shop", "uid": "uid-1"},
	"spec": {"action": "inspect", "requester": "system:serviceaccount:shop:agent", "release": "kx", "parameters": {}},
}

approval_for(run, overrides) := object.union(
	{
		"metadata": {"name": "ok", "namespace": "shop", "creationTimestamp": "2026-12-07T10:00:00Z"},
		"spec": {
			"actionRun": {"name": run.metadata.name, "uid": run.metadata.uid},
			"specHash": gate.spec_hash(run.spec),
			"approver": "alice",
			"expiresAfterSeconds": 600,
		},
	},
	overrides,
)

fake_send(request) := {"status_code": 200, "body": data.api_objects[request.url]} if {
	request.method == "GET"
	request.headers.Authorization == "Bearer the-token"
	request.tls_ca_cert_file == "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
}

else := {"status_code": 404, "body": {"kind": "Status", "reason": "NotFound"}}

pod_env := {
	"KUBERNAUT_ACTION": "inspect",
	"KUBERNAUT_TARGET": `{"environment":"staging","labels":{}}`,
	"KUBERNAUT_RUN": "shop/look",
	"KUBERNAUT_APPROVAL": "ok",
	"KUBERNETES_SERVICE_HOST": "10.0.0.1",
	"KUBERNETES_SERVICE_PORT": "443",
}

objects(run, approval) := {sprintf("%s/actionruns/%s", [api, run.metadata.name]): run, sprintf("%s/actionapprovals/%s", [api, approval.metadata.name]): approval}

# 10:05 on the approval's day: five minutes into its ten.
now := 1796637900000000000

problems(env, objs) := p if {
	inp := gate.runtime_input with opa.runtime as {"env": env}
	p := gate.approval_problems with input as inp with opa.runtime as {"env": env} with http.send as fake_send with data.api_objects as objs with data.kubernaut.token as "the-token\n" with time.now_ns as now with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

approval_step(env, objs) if {
	gate.approval_step with opa.runtime as {"env": env} with http.send as fake_send with data.api_objects as objs with data.kubernaut.token as "the-token\n" with time.now_ns as now with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

# Each way of judging alone: the positive conditions, and the problems.
valid(env, objs) if {
	inp := gate.runtime_input with opa.runtime as {"env": env}
	gate.approval_valid with input as inp with opa.runtime as {"env": env} with http.send as fake_send with data.api_objects as objs with data.kubernaut.token as "the-token\n" with time.now_ns as now with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

test_a_valid_approval_read_from_the_api_server_passes if {
	objs := objects(run_object, approval_for(run_object, {}))
	problems(pod_env, objs) == set()
	valid(pod_env, objs)
	approval_step(pod_env, objs)
}

test_approval_problems_refuse_the_run if {
	good := approval_for(run_object, {})
	careful := object.union(run_object, {"spec": {"action": "careful"}})
	cases := {
		"no approval named": [object.remove(pod_env, ["KUBERNAUT_APPROVAL"]), objects(run_object, good), "KUBERNAUT_APPROVAL does not name an ActionApproval"],
		"no run named": [object.remove(pod_env, ["KUBERNAUT_RUN"]), objects(run_object, good), "KUBERNAUT_RUN does not name an ActionRun as <namespace>/<name>"],
		"a path in the name": [object.union(pod_env, {"KUBERNAUT_RUN": "shop/../x"}), objects(run_object, good), "KUBERNAUT_RUN does not name an ActionRun as <namespace>/<name>"],
		"run absent": [pod_env, objects(object.union(run_object, {"metadata": {"name": "gone"}}), good), `cannot read ActionRun shop/look: {"kind": "Status", "reason": "NotFound"}`],
		"no creation time": [pod_env, objects(run_object, json.remove(good, ["metadata/creationTimestamp"])), "the approval has no valid creationTimestamp or expiresAfterSeconds"],
		"approval absent": [pod_env, objects(run_object, object.union(good, {"metadata": {"name": "other"}})), `cannot read ActionApproval ok: {"kind": "Status", "reason": "NotFound"}`],
		"another run": [pod_env, objects(run_object, object.union(good, {"spec": {"actionRun": {"name": "else", "uid": "uid-1"}}})), `the approval names run {"name": "else", "uid": "uid-1"}, not look`],
		"an earlier run of the name": [pod_env, objects(run_object, object.union(good, {"spec": {"actionRun": {"name": "look", "uid": "uid-0"}}})), `the approval names run {"name": "look", "uid": "uid-0"}, not look`],
		"stale hash": [pod_env, objects(run_object, object.union(good, {"spec": {"specHash": "sha256:00"}})), sprintf("the approval is for spec sha256:00, not the run's %s", [gate.spec_hash(run_object.spec)])],
		"own requester": [pod_env, objects(run_object, object.union(good, {"spec": {"approver": "system:serviceaccount:shop:agent"}})), `the approval is by the run's own requester "system:serviceaccount:shop:agent"`],
		"expired": [pod_env, objects(run_object, object.union(good, {"spec": {"expiresAfterSeconds": 300}})), "the approval expired at 2026-12-07T10:05:00Z"],
		"another action": [pod_env, objects(careful, approval_for(careful, {})), "the ActionRun asks for careful, this pod runs inspect"],
		"other parameters": [object.union(pod_env, {"KUBERNAUT_PARAM_extra": "1"}), objects(run_object, good), `the ActionRun's parameters {} are not this pod's {"extra": "1"}`],
	}
	every name, c in cases {
		print(name)
		c[2] in problems(c[0], c[1])
		not valid(c[0], c[1])
		not approval_step(c[0], c[1])
	}
}

# A Namespaced run's namespace is the ActionRun's own, integers are compared as the steps get them.
test_namespaced_parameters_match_as_the_steps_get_them if {
	asking := json.patch(actions, [{"op": "replace", "path": "/scale/requires_approval", "value": {"big"}}])
	run := object.union(run_object, {"spec": {"action": "scale", "parameters": {"replicas": 30, "kind": "pods"}}})
	objs := objects(run, approval_for(run, {}))
	env := object.union(pod_env, {"KUBERNAUT_ACTION": "scale", "KUBERNAUT_PARAM_namespace": "shop", "KUBERNAUT_PARAM_replicas": "30", "KUBERNAUT_PARAM_kind": "pods", "KUBERNAUT_PARAM_dry": "", "KUBERNAUT_TARGET": `{"environment":"staging","labels":{},"currentReplicas":2}`})
	gate.approval_step with opa.runtime as {"env": env} with http.send as fake_send with data.api_objects as objs with data.kubernaut.token as "the-token" with time.now_ns as now with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as asking with data.kubernaut.config as config
	elsewhere := object.union(env, {"KUBERNAUT_PARAM_namespace": "other"})
	not gate.approval_step with opa.runtime as {"env": elsewhere} with http.send as fake_send with data.api_objects as objs with data.kubernaut.token as "the-token" with time.now_ns as now with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as asking with data.kubernaut.config as config
}

# The hash the controller computes (controller.SpecHash, whose Go test compares the two): fixed
# fields, sorted keys, absent ones empty.
test_spec_hash_is_canonical if {
	gate.spec_hash({"requester": "a", "action": "x"}) == gate.spec_hash({"action": "x", "mode": "", "parameters": {}, "release": "", "requester": "a"})
	gate.spec_hash({"action": "x"}) != gate.spec_hash({"action": "y"})
}

# Without a token or an API server address there is no answer: the step refuses, it never passes on
# an undefined read.
test_no_answer_refuses if {
	objs := objects(run_object, approval_for(run_object, {}))
	no_host := object.remove(pod_env, ["KUBERNETES_SERVICE_HOST"])
	"cannot read ActionRun shop/look: no answer: no token loaded, or no API server address (KUBERNETES_SERVICE_HOST)" in problems(no_host, objs)
	not approval_step(no_host, objs)
	not gate.approval_step with opa.runtime as {"env": pod_env} with http.send as fake_send with data.api_objects as objs with time.now_ns as now with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

# A run that needs no approval passes without reading anything.
test_a_run_without_approval_reads_nothing if {
	env := {"KUBERNAUT_ACTION": "scale", "KUBERNAUT_PARAM_namespace": "shop", "KUBERNAUT_PARAM_replicas": "3", "KUBERNAUT_TARGET": `{"environment":"staging","labels":{},"currentReplicas":2}`}
	gate.approval_step with opa.runtime as {"env": env} with http.send as fake_send with data.api_objects as {} with data.kubernaut.catalogue as catalogue with data.kubernaut.actions as actions with data.kubernaut.config as config
}

# The API server's address as the kubelet gives it, an IPv6 one in brackets.
test_api_host if {
	gate.api_host == "10.0.0.1:443" with opa.runtime as {"env": pod_env}
	gate.api_host == "[fd00::1]:6443" with opa.runtime as {"env": {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}}
}
