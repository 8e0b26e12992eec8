package kubernaut.checks.rules.networkpolicy_port_only_test

import data.kubernaut.checks.rules.networkpolicy_port_only as rule

np(spec) := {"documents": [{"kind": "NetworkPolicy", "metadata": {"name": "n"}, "spec": spec}]}

test_port_only_egress if {
	rule.violation == {{"kind": "NetworkPolicy", "namespace": "", "name": "n", "message": "egress rule 0 has ports but no peers, so it allows every address"}} with input as np({"egress": [{"ports": [{"port": 443}]}]})
}

test_port_only_ingress if count(rule.violation) == 1 with input as np({"ingress": [{"ports": [{"port": 9090}]}]})

test_with_peers if count(rule.violation) == 0 with input as np({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"port": 443}]}]})
