package kubernaut.actions.rollback_deployment_test

import data.kubernaut.actions.rollback_deployment

base := {
	"action": "rollback-deployment",
	"parameters": {"namespace": "shop", "deployment": "web", "revision": "0"},
	"target": {"environment": "development", "labels": {}},
	"release": {"namespace": "kubernaut-system"},
}

test_allows_outside_production if {
	count(rollback_deployment.deny) == 0 with input as base
	count(rollback_deployment.requires_approval) == 0 with input as base
}

test_denies_protected_namespace if {
	rollback_deployment.deny["refusing to roll back deployments in protected namespace \"kube-public\""] with input as object.union(base, {"parameters": {"namespace": "kube-public"}})
}

test_production_needs_approval if {
	rollback_deployment.requires_approval["rolling back to revision 0 in production"] with input as object.union(base, {"target": {"environment": "production"}})
}
