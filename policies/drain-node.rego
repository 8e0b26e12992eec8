# METADATA
# title: drain-node
# description: Cordoning a node and evicting its pods.
# schemas:
#   - input: schema.drain_node
package kubernaut.actions.drain_node

import data.kubernaut.lib

# Evicting the control plane's pods takes the cluster down.
deny contains sprintf("refusing to drain control-plane node %q", [input.parameters.node]) if lib.is_control_plane_node

# Production runs need approval: the catalogue says so (approvalInProduction) and the gate applies it.
requires_approval := set()
