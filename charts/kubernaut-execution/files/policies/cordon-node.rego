# METADATA
# title: cordon-node
# description: Marking a node unschedulable.
# schemas:
#   - input: schema.cordon_node
package kubernaut.actions.cordon_node

import data.kubernaut.lib

# Control-plane nodes run the API server, etcd and the scheduler; cordoning one is a cluster change.
deny contains sprintf("refusing to cordon control-plane node %q", [input.parameters.node]) if lib.is_control_plane_node

requires_approval := set()
