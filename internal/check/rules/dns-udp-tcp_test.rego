package kubernaut.checks.rules.dns_udp_tcp_test

import data.kubernaut.checks.rules.dns_udp_tcp as rule

np(ports) := {"documents": [{"kind": "NetworkPolicy", "metadata": {"name": "n"}, "spec": {"egress": [
	{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"port": 443}]},
	{"to": [{"podSelector": {}}], "ports": ports},
]}}]}

messages(ports) := m if {
	m := {v.message | some v in rule.violation} with input as np(ports)
}

test_udp_and_tcp if count(messages([{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}])) == 0

test_udp_only if messages([{"port": 53, "protocol": "UDP"}]) == {"egress rule 1 allows UDP port 53 for DNS but not TCP"}

test_no_dns if messages([{"port": 53, "protocol": "TCP"}]) == {"no egress rule allows cluster DNS over UDP"}
