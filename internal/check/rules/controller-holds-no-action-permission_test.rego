package kubernaut.checks.rules.controller_holds_no_action_permission_test

import data.kubernaut.checks.rules.controller_holds_no_action_permission as rule

action := {"kind": "ClusterRole", "metadata": {"name": "a", "labels": {"example.org/action": "cordon"}}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]}

controller(rules) := {"kind": "Role", "metadata": {"name": "c", "namespace": "n", "labels": {"app.kubernetes.io/component": "controller"}}, "rules": rules}

test_overlap if {
	rule.violation == {{"kind": "Role", "namespace": "n", "name": "c", "message": "grants patch /nodes, a permission of action \"cordon\""}} with input as {"documents": [action, controller([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]}])]} with data.kubernaut.params.actionLabel as "example.org/action"
}

test_no_overlap if count(rule.violation) == 0 with input as {"documents": [action, controller([{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}])]} with data.kubernaut.params.actionLabel as "example.org/action"

test_wildcard_verb if {
	rule.violation == {
		{"kind": "Role", "namespace": "n", "name": "c", "message": "grants * /nodes, a permission of action \"cordon\""},
	} with input as {"documents": [action, controller([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["*"]}])]}
		with data.kubernaut.params.actionLabel as "example.org/action"
}

test_wildcard_resource if {
	count(rule.violation) == 1 with input as {"documents": [action, controller([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])]}
		with data.kubernaut.params.actionLabel as "example.org/action"
}
