package kubernaut.actions.drain_node_test

import data.kubernaut.actions.drain_node

base := {
	"action": "drain-node",
	"parameters": {"node": "worker-3", "timeoutSeconds": "300"},
	"target": {"environment": "staging", "labels": {}},
}

test_allows_a_staging_worker if {
	count(drain_node.deny) == 0 with input as base
	count(drain_node.requires_approval) == 0 with input as base
}

test_denies_control_plane if {
	drain_node.deny["refusing to drain control-plane node \"worker-3\""] with input as object.union(base, {"target": {"labels": {"node-role.kubernetes.io/control-plane": ""}}})
}
