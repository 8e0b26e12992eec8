package kubernaut.actions.restart_pod_test

import data.kubernaut.actions.restart_pod

base := {
	"action": "restart-pod",
	"parameters": {"namespace": "shop", "pod": "web-7d4b9-x2x"},
	"target": {"environment": "production", "labels": {"app": "web"}, "ownerKind": "ReplicaSet"},
}

test_allows_a_replicaset_pod if {
	count(restart_pod.deny) == 0 with input as base
	count(restart_pod.requires_approval) == 0 with input as base
}

test_denies_kube_apiserver_by_label if {
	restart_pod.deny["refusing to restart a kube-apiserver pod"] with input as object.union(base, {"target": {"labels": {"component": "kube-apiserver"}}})
}

test_denies_kube_apiserver_by_name if {
	restart_pod.deny["refusing to restart a kube-apiserver pod"] with input as object.union(base, {"parameters": {"pod": "kube-apiserver-node-1"}})
}

test_denies_a_bare_pod if {
	restart_pod.deny["pod \"web-7d4b9-x2x\" has no owning controller; deleting it would not restart it"] with input as object.union(base, {"target": {"ownerKind": ""}})
}

test_database_needs_approval if {
	restart_pod.requires_approval["restarting a database pod"] with input as object.union(base, {"target": {"labels": {"app.kubernetes.io/name": "PostgreSQL"}}})
	count(restart_pod.deny) == 0 with input as object.union(base, {"target": {"labels": {"app.kubernetes.io/name": "PostgreSQL"}}})
}
