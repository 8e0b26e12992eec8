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

drainer := {"kind": "ClusterRole", "metadata": {"name": "d", "labels": {"example.org/action": "drain"}}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}

cluster_controller(rules) := {"kind": "ClusterRole", "metadata": {"name": "c", "labels": {"app.kubernetes.io/component": "controller"}}, "rules": rules}

# Reading one object by name (the target context) is not an action's permission; listing it
# cluster-wide is, and so is a wildcard verb.
test_get_by_name_allowed if {
	count(rule.violation) == 0 with input as {"documents": [drainer, cluster_controller([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])]}
		with data.kubernaut.params.actionLabel as "example.org/action"
}

test_cluster_list_refused if {
	rule.violation == {{"kind": "ClusterRole", "namespace": "", "name": "c", "message": "grants list /pods, a permission of action \"drain\""}} with input as {"documents": [drainer, cluster_controller([{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}])]}
		with data.kubernaut.params.actionLabel as "example.org/action"
}

# In its own namespace's Role the controller reads its runs' pods; it changes nothing there either.
test_role_reads_allowed if {
	count(rule.violation) == 0 with input as {"documents": [drainer, controller([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}])]}
		with data.kubernaut.params.actionLabel as "example.org/action"
}
