package kubernaut.checks.lib_test

import data.kubernaut.checks.lib

test_qualified if {
	lib.qualified("pods", "") == "pods"
	lib.qualified("roles", "rbac.authorization.k8s.io") == "roles.rbac.authorization.k8s.io"
}

test_triples if {
	lib.triples([{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get"]}]) == {["", "pods", "get"], ["", "nodes", "get"]}
}

test_containers_and_components_of_the_pods if {
	a := {"kind": "Job", "metadata": {"name": "a"}}
	c := {"kind": "Deployment", "metadata": {"name": "c"}}
	pods := [
		{"doc": a, "labels": {"app.kubernetes.io/component": "action"}, "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]}},
		{"doc": c, "labels": {"app.kubernetes.io/component": "controller"}, "spec": {"containers": [{"name": "c"}], "ephemeralContainers": [{"name": "e"}]}},
	]
	{[x.doc.metadata.name, x.container.name] | some x in lib.containers} == {["a", "i"], ["a", "c"], ["c", "c"], ["c", "e"]} with input as {"documents": [a, c], "pods": pods}
	count(lib.action_pods) == 1 with input as {"documents": [a, c], "pods": pods}
}

test_selects if {
	lib.selects({"spec": {"podSelector": {"matchLabels": {"a": "1"}}}}, {"a": "1", "b": "2"})
	lib.selects({"spec": {"podSelector": {}}}, {"a": "1"})
	not lib.selects({"spec": {"podSelector": {"matchLabels": {"a": "2"}}}}, {"a": "1"})
	not lib.selects({"spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists"}]}}}, {"a": "1"})
}

test_missing_and_violation if {
	lib.missing("Task", "t", "m") == {"kind": "Task", "namespace": "", "name": "t", "message": "m"}
	lib.violation({"kind": "Role", "metadata": {"name": "r", "namespace": "ns"}}, "m") == {"kind": "Role", "namespace": "ns", "name": "r", "message": "m"}
}
