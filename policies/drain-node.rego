# METADATA
# title: drain-node
# description: Cordoning a node and evicting its pods.
# schemas:
#   - input: schema.drain_node
package kubernaut.actions.drain_node

import data.kubernaut.lib

# Evicting the control plane's pods takes the cluster down.
deny contains sprintf("refusing to drain control-plane node %q", [input.parameters.node]) if lib.is_control_plane_node

# Draining moves every workload on the node; in production a person confirms the capacity is there.
requires_approval contains "draining a node in production" if lib.production
