package kubernaut.actions.scale_deployment_test

import data.kubernaut.actions.scale_deployment

base := {
	"action": "scale-deployment",
	"parameters": {"namespace": "shop", "deployment": "web", "replicas": "4"},
	"target": {"environment": "production", "labels": {}, "currentReplicas": 2},
}

with_replicas(n, current) := object.union(base, {"parameters": {"replicas": n}, "target": {"currentReplicas": current}})

test_allows_a_small_change if {
	count(scale_deployment.deny) == 0 with input as base
	count(scale_deployment.requires_approval) == 0 with input as base
}

test_denies_production_to_zero if {
	scale_deployment.deny["refusing to scale a production deployment to zero replicas"] with input as with_replicas("0", 2)
}

test_allows_staging_to_zero if {
	count(scale_deployment.deny) == 0 with input as object.union(with_replicas("0", 2), {"target": {"environment": "staging"}})
}

test_large_scale_up_needs_approval if {
	scale_deployment.requires_approval["large scale-up from 9 to 50 replicas"] with input as with_replicas("50", 9)
}

test_scale_up_from_ten_needs_no_approval if {
	count(scale_deployment.requires_approval) == 0 with input as with_replicas("60", 10)
}

test_scale_up_below_fifty_needs_no_approval if {
	count(scale_deployment.requires_approval) == 0 with input as with_replicas("49", 2)
}
