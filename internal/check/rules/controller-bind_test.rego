package kubernaut.checks.rules.controller_bind_test

import data.kubernaut.checks.rules.controller_bind

action(n) := {"kind": "ClusterRole", "metadata": {"name": n, "labels": {"example.org/action": n}}, "rules": []}

controller(rules) := {"kind": "ClusterRole", "metadata": {"name": "c", "labels": {"app.kubernetes.io/component": "controller"}}, "rules": rules}

bind(names) := {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": names}

test_exact_names if count(controller_bind.violation) == 0 with input as {"documents": [action("a"), action("b"), controller([bind(["a", "b"])])]} with data.kubernaut.params.actionLabel as "example.org/action"

test_missing_name if {
	controller_bind.violation == {{"kind": "ClusterRole", "namespace": "", "name": "c", "message": "bind resourceNames {\"a\"} are not the per-action ClusterRoles {\"a\", \"b\"}"}} with input as {"documents": [action("a"), action("b"), controller([bind(["a"])])]} with data.kubernaut.params.actionLabel as "example.org/action"
}

makes_bindings := {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "delete"]}

test_no_bind_rule if {
	count(controller_bind.violation) == 1 with input as {"documents": [action("a"), controller([makes_bindings])]} with data.kubernaut.params.actionLabel as "example.org/action"
}

# Static mode: a controller that makes no bindings needs no bind rule.
test_no_bind_rule_needed_without_bindings if {
	count(controller_bind.violation) == 0 with input as {"documents": [action("a"), controller([])]} with data.kubernaut.params.actionLabel as "example.org/action"
}

test_no_controller if {
	controller_bind.violation == {{"kind": "ClusterRole", "namespace": "", "name": "", "message": "no controller ClusterRole (labelled app.kubernetes.io/component: controller)"}} with input as {"documents": [action("a")]} with data.kubernaut.params.actionLabel as "example.org/action"
}
