package kubernaut.checks.rules.run_contract_test

import data.kubernaut.checks.rules.run_contract

params := {"actionLabel": "kubernaut.io/action", "runServiceAccountInfix": "-run-"}

sa := {"kind": "ServiceAccount", "metadata": {"name": "c", "namespace": "kx", "labels": {"app.kubernetes.io/component": "controller"}}}

role := {"kind": "ClusterRole", "metadata": {"name": "r", "labels": {"kubernaut.io/action": "scale"}}, "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}]}

policy := {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p", "labels": {"app.kubernetes.io/component": "action"}}, "spec": {
	"failurePolicy": "Fail",
	"matchConstraints": {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"], "resources": ["*/*"]}]},
	"matchConditions": [{"name": "runs", "expression": "request.userInfo.username.startsWith(\"system:serviceaccount:kx:r-run-\")"}],
	"variables": [{"name": "requests", "expression": json.marshal({"scale": ["apps/deployments/UPDATE"]})}],
}}

binding := {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "p"}, "spec": {"policyName": "p", "validationActions": ["Deny"]}}

missing := {"no admission policy that fails closed, denies, matches every request and names the run identities bounds scale's request apps/deployments/UPDATE"}

messages(docs) := m if {
	m := {v.message | some v in run_contract.violation} with input as {"documents": docs}
		with data.kubernaut.params as params
}

test_bounded if count(messages([sa, role, policy, binding])) == 0

test_no_policy if messages([sa, role]) == missing

test_request_not_listed if {
	p := json.patch(policy, [{"op": "replace", "path": "/spec/variables/0/expression", "value": json.marshal({"scale": []})}])
	messages([sa, role, p, binding]) == missing
}

test_fails_open if {
	p := json.patch(policy, [{"op": "replace", "path": "/spec/failurePolicy", "value": "Ignore"}])
	messages([sa, role, p, binding]) == missing
}

test_binding_only_warns if {
	b := json.patch(binding, [{"op": "replace", "path": "/spec/validationActions", "value": ["Warn"]}])
	messages([sa, role, policy, b]) == missing
}

test_matches_another_identity if {
	p := json.patch(policy, [{"op": "replace", "path": "/spec/matchConditions/0/expression", "value": "request.userInfo.username == \"system:serviceaccount:kx:r-controller\""}])
	messages([sa, role, p, binding]) == missing
}

test_matches_some_resources_only if {
	p := json.patch(policy, [{"op": "replace", "path": "/spec/matchConstraints/resourceRules/0/resources", "value": ["deployments"]}])
	messages([sa, role, p, binding]) == missing
}

test_wildcard_operations if {
	p := json.patch(policy, [{"op": "replace", "path": "/spec/matchConstraints/resourceRules/0/operations", "value": ["*"]}])
	count(messages([sa, role, p, binding])) == 0
}

test_binding_narrowed_by_a_selector if {
	b := json.patch(binding, [{"op": "add", "path": "/spec/matchResources", "value": {"objectSelector": {"matchLabels": {"nobody": "sets-this"}}}}])
	messages([sa, role, policy, b]) == missing
}

test_binding_skips_a_missing_parameter if {
	b := json.patch(binding, [{"op": "add", "path": "/spec/paramRef", "value": {"name": "elsewhere", "parameterNotFoundAction": "Allow"}}])
	messages([sa, role, policy, b]) == missing
}
