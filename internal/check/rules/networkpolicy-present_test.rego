package kubernaut.checks.rules.networkpolicy_present_test

import data.kubernaut.checks.rules.networkpolicy_present

pods(component) := {"kind": "PodTemplate", "metadata": {"name": component}, "template": {"metadata": {"labels": {"app.kubernetes.io/component": component}}, "spec": {}}}

np(component) := {"kind": "NetworkPolicy", "metadata": {"name": component}, "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/component": component}}}}

# The documents, and the pods of their PodTemplates as the checker extracts them.
render(docs) := {"documents": docs, "pods": [{"doc": d, "spec": d.template.spec, "labels": d.template.metadata.labels} | some d in docs; d.kind == "PodTemplate"]}

test_all_selected if count(networkpolicy_present.violation) == 0 with input as render([pods("controller"), pods("action"), pods("test"), np("controller"), np("action"), np("test")])

test_action_pods_unselected if {
	networkpolicy_present.violation == {{"kind": "PodTemplate", "namespace": "", "name": "action", "message": "no NetworkPolicy selects its action pods"}} with input as render([pods("controller"), pods("action"), np("controller")])
}

test_test_pods_unselected if {
	networkpolicy_present.violation == {{"kind": "PodTemplate", "namespace": "", "name": "test", "message": "no NetworkPolicy selects its test pods"}} with input as render([pods("controller"), pods("action"), pods("test"), np("controller"), np("action")])
}
