package kubernaut.checks.rules.controller_targets_test

import data.kubernaut.checks.rules.controller_targets

role(rules) := {"kind": "ClusterRole", "metadata": {"name": "c", "labels": {"app.kubernetes.io/component": "controller"}}, "rules": rules}

messages(docs) := m if {
	m := {v.message | some v in controller_targets.violation} with input as {"documents": docs}
}

test_reads_only if count(messages([role([{"apiGroups": [""], "resources": ["namespaces", "nodes"], "verbs": ["get", "list", "watch"]}])])) == 0

test_patch_namespaces if {
	messages([role([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]}])]) == {"the controller may patch namespaces: their labels decide what runs may act on and whether runs are paused"}
}

test_update_nodes if {
	messages([role([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["update"]}])]) == {"the controller may update nodes: their labels decide what runs may act on and whether runs are paused"}
}

test_wildcard if {
	messages([role([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])]) == {"the controller may * *: their labels decide what runs may act on and whether runs are paused"}
}

test_other_roles_are_not_the_controller if {
	count(messages([{"kind": "ClusterRole", "metadata": {"name": "a", "labels": {"app.kubernetes.io/component": "action"}}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]}]}])) == 0
}
