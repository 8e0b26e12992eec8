package kubernaut.actions.delete_pod_test

import data.kubernaut.actions.delete_pod

base := {
	"action": "delete-pod",
	"parameters": {"namespace": "shop", "pod": "web-1", "gracePeriodSeconds": "30"},
	"target": {"environment": "production", "labels": {"app": "web"}},
}

test_allows_an_application_pod if {
	count(delete_pod.deny) == 0 with input as base
	count(delete_pod.requires_approval) == 0 with input as base
}

test_denies_kube_apiserver if {
	delete_pod.deny["refusing to delete a kube-apiserver pod"] with input as object.union(base, {"target": {"labels": {"component": "kube-apiserver"}}})
}

test_database_needs_approval if {
	delete_pod.requires_approval["deleting a database pod"] with input as object.union(base, {"target": {"labels": {"kubernaut.io/class": "database"}}})
}
