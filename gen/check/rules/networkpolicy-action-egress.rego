# METADATA
# title: networkpolicy-action-egress
# description: >-
#   Action pods reach only the API server (ipBlocks) and cluster DNS: every egress rule of their policy is one or the other, and no ipBlock is the whole Internet.
package kubernaut.checks.rules.networkpolicy_action_egress

import data.kubernaut.checks.lib

violation contains lib.violation(np, sprintf("egress rule %d goes to %v, which is neither an ipBlock nor cluster DNS", [i, lib.peers(rule)])) if {
	some np in lib.action_policies
	some i, rule in object.get(np.spec, "egress", [])
	not lib.is_dns(rule)
	some peer in lib.peers(rule)
	not peer.ipBlock
}

violation contains lib.violation(np, sprintf("ipBlock %s allows every address", [peer.ipBlock.cidr])) if {
	some np in lib.network_policies
	some rule in object.get(np.spec, "egress", [])
	some peer in lib.peers(rule)
	peer.ipBlock.cidr in {"0.0.0.0/0", "::/0"}
}
