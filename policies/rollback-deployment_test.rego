package kubernaut.actions.rollback_deployment_test

import data.kubernaut.actions.rollback_deployment

base := {
	"action": "rollback-deployment",
	"parameters": {"namespace": "shop", "deployment": "web", "revision": "0"},
	"target": {"environment": "development", "labels": {}},
}

test_allows_outside_production if {
	count(rollback_deployment.deny) == 0 with input as base
	count(rollback_deployment.requires_approval) == 0 with input as base
}
