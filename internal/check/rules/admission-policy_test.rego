package kubernaut.checks.rules.admission_policy_test

import data.kubernaut.checks.rules.admission_policy

controller := {"kind": "ClusterRole", "metadata": {"name": "c", "labels": {"app.kubernetes.io/component": "controller"}}, "rules": [
	{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "delete", "get"]},
	{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]},
]}

sa := {"kind": "ServiceAccount", "metadata": {"name": "kx-controller", "namespace": "kx", "labels": {"app.kubernetes.io/component": "controller"}}}

by_controller := [{"name": "made-by-the-controller", "expression": "request.userInfo.username == \"system:serviceaccount:kx:kx-controller\""}]

policy(name, rules, extra) := object.union({"kind": "ValidatingAdmissionPolicy", "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "controller"}}, "spec": {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules}, "matchConditions": by_controller}}, extra)

binding(name, actions) := {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": name}, "spec": {"policyName": name, "validationActions": actions}}

bindings := policy("b", [{"resources": ["rolebindings"], "operations": ["CREATE", "UPDATE", "DELETE"]}], {})

workloads := policy("w", [{"resources": ["jobs"], "operations": ["CREATE", "UPDATE"]}], {})

records := policy("r", [{"resources": ["jobs"], "operations": ["DELETE"]}], {})

complete := [sa, controller, bindings, binding("b", ["Deny"]), workloads, binding("w", ["Deny"]), records, binding("r", ["Deny"])]

test_deleting_runs_unguarded if {
	messages([sa, controller, bindings, binding("b", ["Deny"]), workloads, binding("w", ["Deny"])]) == {"no admission policy that fails closed and denies matches DELETE of jobs by the controller"}
}

messages(docs) := m if {
	m := {v.message | some v in admission_policy.violation} with input as {"documents": docs}
}

test_complete if count(messages(complete)) == 0

test_missing_policy if {
	messages([sa, controller, records, binding("r", ["Deny"]), bindings, binding("b", ["Deny"])]) == {
		"no admission policy that fails closed and denies matches CREATE of jobs by the controller",
		"no admission policy that fails closed and denies matches UPDATE of jobs by the controller",
	}
}

test_delete_not_matched if {
	narrow := policy("b", [{"resources": ["rolebindings"], "operations": ["CREATE", "UPDATE"]}], {})
	messages([sa, controller, records, binding("r", ["Deny"]), narrow, binding("b", ["Deny"]), workloads, binding("w", ["Deny"])]) == {"no admission policy that fails closed and denies matches DELETE of rolebindings by the controller"}
}

test_fail_open if {
	open := policy("w", [{"resources": ["*"], "operations": ["*"]}], {"spec": {"failurePolicy": "Ignore"}})
	"fails open (failurePolicy: Ignore): a policy that cannot be evaluated must refuse" in messages([sa, controller, records, binding("r", ["Deny"]), bindings, binding("b", ["Deny"]), open, binding("w", ["Deny"])])
}

test_binding_only_warns if {
	"no admission policy that fails closed and denies matches CREATE of jobs by the controller" in messages([sa, controller, records, binding("r", ["Deny"]), bindings, binding("b", ["Deny"]), workloads, binding("w", ["Warn", "Audit"])])
}

test_policy_matches_another_identity if {
	other := json.patch(workloads, [{"op": "replace", "path": "/spec/matchConditions/0/expression", "value": "request.userInfo.username == \"system:serviceaccount:kx:someone\""}])
	messages([sa, controller, records, binding("r", ["Deny"]), bindings, binding("b", ["Deny"]), other, binding("w", ["Deny"])]) == {
		"its match conditions do not name the controller's ServiceAccount: it guards another identity",
		"no admission policy that fails closed and denies matches CREATE of jobs by the controller",
		"no admission policy that fails closed and denies matches UPDATE of jobs by the controller",
	}
}

test_binding_narrowed_by_a_selector if {
	narrowed := json.patch(binding("w", ["Deny"]), [{"op": "add", "path": "/spec/matchResources", "value": {"namespaceSelector": {"matchLabels": {"nobody": "sets-this"}}}}])
	messages([sa, controller, records, binding("r", ["Deny"]), bindings, binding("b", ["Deny"]), workloads, narrowed]) == {
		"no admission policy that fails closed and denies matches CREATE of jobs by the controller",
		"no admission policy that fails closed and denies matches UPDATE of jobs by the controller",
	}
}
