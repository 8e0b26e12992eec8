package kubernaut.checks.rules.workload_namespace_test

import data.kubernaut.checks.rules.workload_namespace

controller_sa := {"kind": "ServiceAccount", "metadata": {"name": "c", "namespace": "kx", "labels": {"app.kubernetes.io/component": "controller"}}}

role(kind, ns, rules) := {"kind": kind, "metadata": {"name": "c", "namespace": ns, "labels": {"app.kubernetes.io/component": "controller"}}, "rules": rules}

jobs := {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get"]}

read_jobs := {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}

messages(docs) := m if {
	m := {v.message | some v in workload_namespace.violation} with input as {"documents": docs}
}

test_release_namespace_role_is_fine if count(messages([controller_sa, role("Role", "kx", [jobs])])) == 0

test_reading_cluster_wide_is_fine if count(messages([controller_sa, role("ClusterRole", "", [read_jobs])])) == 0

test_cluster_wide_create if {
	messages([controller_sa, role("ClusterRole", "", [jobs])]) == {"grants [\"create jobs\"] cluster-wide: the controller may create workloads only in the release namespace"}
}

test_wildcards_count if {
	count(messages([controller_sa, role("ClusterRole", "", [{"apiGroups": ["tekton.dev"], "resources": ["*"], "verbs": ["*"]}])])) == 1
}

test_role_in_another_namespace if {
	messages([controller_sa, role("Role", "shop", [jobs])]) == {"grants [\"create jobs\"] outside the release namespace {\"kx\"}"}
}
