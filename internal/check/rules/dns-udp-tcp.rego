# METADATA
# title: dns-udp-tcp
# description: >-
#   DNS is allowed over UDP and TCP: large answers and some resolvers use TCP.
package kubernaut.checks.rules.dns_udp_tcp

import data.kubernaut.checks.lib

violation contains lib.violation(np, sprintf("egress rule %d allows %s port %v for DNS but not %s", [i, have, port, want])) if {
	some np in lib.network_policies
	some i, rule in object.get(np.spec, "egress", [])
	lib.dns_like(rule)
	some p in rule.ports
	port := p.port
	have := object.get(p, "protocol", "TCP")
	want := {"UDP": "TCP", "TCP": "UDP"}[have]
	not has_port(rule, port, want)
}

has_port(rule, port, protocol) if {
	some p in rule.ports
	p.port == port
	object.get(p, "protocol", "TCP") == protocol
}

violation contains lib.violation(np, "no egress rule allows cluster DNS over UDP") if {
	some np in lib.network_policies
	object.get(np.spec, "egress", []) != []
	not has_dns(np)
}

has_dns(np) if {
	some rule in np.spec.egress
	lib.dns_like(rule)
}
