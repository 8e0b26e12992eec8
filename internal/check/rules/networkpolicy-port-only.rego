# METADATA
# title: networkpolicy-port-only
# description: >-
#   No rule has ports but no peers: a port-only rule allows every address on those ports.
package kubernaut.checks.rules.networkpolicy_port_only

import data.kubernaut.checks.lib

violation contains lib.violation(np, sprintf("%s rule %d has ports but no peers, so it allows every address", [direction, i])) if {
	some np in lib.network_policies
	some direction in ["ingress", "egress"]
	some i, rule in object.get(np.spec, direction, [])
	count(lib.peers(rule)) == 0
}
