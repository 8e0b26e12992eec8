# METADATA
# title: networkpolicy-action-egress
# description: >-
#   Action pods reach only the API server (ipBlocks) and cluster DNS: every egress rule of their policy is one or the other, and no ipBlock is broader than the chart allows (one address unless told otherwise).
package kubernaut.checks.rules.networkpolicy_action_egress

import data.kubernaut.checks.lib

violation contains lib.violation(np, sprintf("egress rule %d goes to %v, which is neither an ipBlock nor cluster DNS", [i, lib.peers(rule)])) if {
	some np in lib.action_policies
	some i, rule in object.get(np.spec, "egress", [])
	not lib.is_dns(rule)
	some peer in lib.peers(rule)
	not peer.ipBlock
}

# The limit the chart applies (networkPolicy.apiServer.minPrefixLength, by default one address): a
# broader block opens every address in it on the API server ports. Given by kubernaut-execution check.
min_prefix(cidr) := lib.params.minPrefixLength.ipv6 if contains(cidr, ":")

min_prefix(cidr) := lib.params.minPrefixLength.ipv4 if not contains(cidr, ":")

violation contains lib.violation(np, sprintf("ipBlock %s is broader than /%d: list each API server address as /%d", [cidr, min, min])) if {
	some np in lib.network_policies
	some rule in object.get(np.spec, "egress", [])
	some peer in lib.peers(rule)
	cidr := peer.ipBlock.cidr
	min := min_prefix(cidr)
	to_number(split(cidr, "/")[1]) < min
}
