package kubernaut.checks.rules.action_ingress_denied_test

import data.kubernaut.checks.rules.action_ingress_denied as rule

pods := {"kind": "PodTemplate", "metadata": {"name": "p"}, "template": {"metadata": {"labels": {"app.kubernetes.io/component": "action"}}, "spec": {}}}

np(spec) := {
	"documents": [pods, {"kind": "NetworkPolicy", "metadata": {"name": "n"}, "spec": object.union({"podSelector": {}}, spec)}],
	"pods": [{"doc": pods, "spec": pods.template.spec, "labels": pods.template.metadata.labels}],
}

test_denied if count(rule.violation) == 0 with input as np({"policyTypes": ["Ingress", "Egress"], "ingress": []})

test_no_ingress_type if {
	{v.message | some v in rule.violation} == {"does not deny ingress: policyTypes lacks Ingress"} with input as np({"policyTypes": ["Egress"]})
}

test_ingress_allowed if count(rule.violation) == 1 with input as np({"policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]})
