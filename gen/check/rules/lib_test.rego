package kubernaut.checks.lib_test

import data.kubernaut.checks.lib

test_qualified if {
	lib.qualified("pods", "") == "pods"
	lib.qualified("roles", "rbac.authorization.k8s.io") == "roles.rbac.authorization.k8s.io"
}

test_triples if {
	lib.triples([{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get"]}]) == {["", "pods", "get"], ["", "nodes", "get"]}
}

test_pod_specs_of_every_workload_kind if {
	spec := {"containers": [{"name": "c", "image": "x:1"}]}
	tpl := {"metadata": {"labels": {"app.kubernetes.io/component": "action"}}, "spec": spec}
	docs := [
		{"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": tpl}},
		{"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": {"template": tpl}}}},
		{"kind": "PodTemplate", "metadata": {"name": "p"}, "template": tpl},
		{"kind": "Pod", "metadata": {"name": "pod"}, "spec": spec},
		{"kind": "Task", "metadata": {"name": "t"}, "spec": {"stepTemplate": {"computeResources": {"limits": {"cpu": "1"}}}, "steps": [{"name": "s", "image": "y:1", "computeResources": {}}]}},
	]
	count(lib.pod_specs) == 5 with input as {"documents": docs}
	count(lib.containers) == 5 with input as {"documents": docs}
	count(lib.action_pods) == 3 with input as {"documents": docs}
	some c in lib.containers with input as {"documents": docs}
	c.container.resources == {"limits": {"cpu": "1"}}
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
