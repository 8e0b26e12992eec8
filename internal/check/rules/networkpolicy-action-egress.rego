# METADATA
# title: networkpolicy-action-egress
# description: >-
#   Action pods reach only the API server (ipBlocks) and cluster DNS: every egress rule of their policy is one or the other, and every ipBlock is one address (/32, /128), as the chart requires unless told otherwise.
package kubernaut.checks.rules.networkpolicy_action_egress

import data.kubernaut.checks.lib

violation contains lib.violation(np, sprintf("egress rule %d goes to %v, which is neither an ipBlock nor cluster DNS", [i, lib.peers(rule)])) if {
	some np in lib.action_policies
	some i, rule in object.get(np.spec, "egress", [])
	not lib.is_dns(rule)
	some peer in lib.peers(rule)
	not peer.ipBlock
}

# The same limit as the chart's networkPolicy.apiServer.minPrefixLength defaults: an API server
# address is one address. A broader block opens every address in it on the API server ports.
min_prefix(cidr) := 128 if contains(cidr, ":")

min_prefix(cidr) := 32 if not contains(cidr, ":")

violation contains lib.violation(np, sprintf("ipBlock %s is broader than /%d: list each API server address as /%d", [cidr, min, min])) if {
	some np in lib.network_policies
	some rule in object.get(np.spec, "egress", [])
	some peer in lib.peers(rule)
	cidr := peer.ipBlock.cidr
	min := min_prefix(cidr)
	to_number(split(cidr, "/")[1]) < min
}
