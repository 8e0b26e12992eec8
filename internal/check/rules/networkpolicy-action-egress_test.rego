package kubernaut.checks.rules.networkpolicy_action_egress_test

import data.kubernaut.checks.rules.networkpolicy_action_egress as rule

pods := {"kind": "PodTemplate", "metadata": {"name": "p"}, "template": {"metadata": {"labels": {"app.kubernetes.io/component": "action"}}, "spec": {}}}

api := {"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"port": 443}]}

dns := {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}

# Each way a rule can look like DNS and not be: it counts as another peer.
test_only_dns_counts_as_dns if {
	every name, bad in {
		"every pod of the namespace": json.patch(dns, [{"op": "remove", "path": "/to/0/podSelector"}]),
		"every namespace": json.patch(dns, [{"op": "replace", "path": "/to/0/namespaceSelector", "value": {}}]),
		"another port too": json.patch(dns, [{"op": "add", "path": "/ports/-", "value": {"port": 8080, "protocol": "UDP"}}]),
		"two ports": json.patch(dns, [{"op": "replace", "path": "/ports/1/port", "value": 8080}]),
		"UDP only": json.patch(dns, [{"op": "remove", "path": "/ports/1"}]),
	} {
		count(messages([api, bad])) >= 1
		name
	}
}

np(egress) := {"kind": "NetworkPolicy", "metadata": {"name": "n"}, "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "action"}}, "egress": egress}}

one_address := {"ipv4": 32, "ipv6": 128}

messages(egress) := messages_within(egress, one_address)

messages_within(egress, limit) := m if {
	m := {v.message | some v in rule.violation} with input as {"documents": [pods, np(egress)], "pods": [{"doc": pods, "spec": pods.template.spec, "labels": pods.template.metadata.labels}]}
		with data.kubernaut.params.minPrefixLength as limit
}

test_api_and_dns_only if count(messages([api, dns])) == 0

test_other_peer if {
	count(messages([api, dns, {"to": [{"podSelector": {}}], "ports": [{"port": 8080}]}])) == 1
}

test_whole_internet if messages([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]) == {"ipBlock 0.0.0.0/0 is broader than /32: list each API server address as /32"}

test_broad_blocks if {
	messages([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"ipBlock": {"cidr": "fd00::/64"}}, {"ipBlock": {"cidr": "fd00::1/128"}}]}]) == {
		"ipBlock 10.0.0.0/8 is broader than /32: list each API server address as /32",
		"ipBlock fd00::/64 is broader than /128: list each API server address as /128",
	}
}

# An operator who allows a control-plane subnet (minPrefixLength 24) checks with the same limit.
test_configured_limit if {
	count(messages_within([{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}]}], {"ipv4": 24, "ipv6": 64})) == 0
	messages_within([{"to": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]}], {"ipv4": 24, "ipv6": 64}) == {"ipBlock 10.0.0.0/16 is broader than /24: list each API server address as /24"}
}
