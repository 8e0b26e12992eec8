package kubernaut.checks.rules.protected_namespaces_test

import data.kubernaut.checks.rules.protected_namespaces

sa := {"kind": "ServiceAccount", "metadata": {"name": "c", "namespace": "kx", "labels": {"app.kubernetes.io/component": "controller"}}}

configmap(namespaces) := {"kind": "ConfigMap", "metadata": {"name": "p", "namespace": "kx", "labels": {"app.kubernetes.io/component": "policy"}}, "data": {"_config.json": json.marshal({"kubernaut": {"config": {"protectedNamespaces": namespaces}}})}}

vap(namespaces) := {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "b", "labels": {"app.kubernetes.io/component": "controller"}}, "spec": {"variables": [{"name": "protectedNamespaces", "expression": json.marshal(namespaces)}]}}

messages(docs) := m if {
	m := {v.message | some v in protected_namespaces.violation} with input as {"documents": docs}
}

test_agreeing_lists if count(messages([sa, configmap(["kube-system", "kx"]), vap(["kx", "kube-system"])])) == 0

test_release_namespace_missing if {
	messages([sa, configmap(["kube-system"]), vap(["kube-system"])]) == {"protected namespaces [\"kube-system\"] miss the release namespace \"kx\""}
}

test_disagreeing_lists if {
	messages([sa, configmap(["kube-system", "kx"]), vap(["kx"])]) == {"protects [\"kx\"] but the gate protects [\"kube-system\", \"kx\"]: they must agree"}
}

test_missing_config if {
	messages([sa, {"kind": "ConfigMap", "metadata": {"name": "p", "labels": {"app.kubernetes.io/component": "policy"}}, "data": {}}]) == {"the policy ConfigMap has no _config.json with kubernaut.config.protectedNamespaces: the gate refuses every run"}
}
