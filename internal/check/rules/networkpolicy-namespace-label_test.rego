package kubernaut.checks.rules.networkpolicy_namespace_label_test

import data.kubernaut.checks.rules.networkpolicy_namespace_label as rule

np(selector) := {"documents": [{"kind": "NetworkPolicy", "metadata": {"name": "n"}, "spec": {"egress": [{"to": [{"namespaceSelector": selector}]}]}}]}

test_metadata_name if count(rule.violation) == 0 with input as np({"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}})

test_name_label if {
	rule.violation == {{"kind": "NetworkPolicy", "namespace": "", "name": "n", "message": "namespaceSelector {\"matchLabels\": {\"name\": \"kube-system\"}}: select namespaces by kubernetes.io/metadata.name only"}} with input as np({"matchLabels": {"name": "kube-system"}})
}

test_every_namespace if count(rule.violation) == 1 with input as np({})
