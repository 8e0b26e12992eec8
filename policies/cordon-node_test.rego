package kubernaut.actions.cordon_node_test

import data.kubernaut.actions.cordon_node

base := {
	"action": "cordon-node",
	"parameters": {"node": "worker-3"},
	"target": {"environment": "production", "labels": {"node-role.kubernetes.io/worker": ""}},
}

test_allows_a_worker if {
	count(cordon_node.deny) == 0 with input as base
	count(cordon_node.requires_approval) == 0 with input as base
}

test_denies_control_plane if {
	cordon_node.deny["refusing to cordon control-plane node \"worker-3\""] with input as object.union(base, {"target": {"labels": {"node-role.kubernetes.io/control-plane": ""}}})
}

test_denies_legacy_master_role if {
	count(cordon_node.deny) == 1 with input as object.union(base, {"target": {"labels": {"node-role.kubernetes.io/master": ""}}})
}
