package kubernaut.checks.rules.forbidden_grants_test

import data.kubernaut.checks.rules.forbidden_grants

params := {"forbiddenVerbs": ["bind", "escalate", "impersonate"], "forbiddenResources": ["secrets", "pods/exec", "clusterroles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io"]}

role(rule) := {"documents": [{"kind": "ClusterRole", "metadata": {"name": "r"}, "rules": [rule]}]}

messages(rule) := m if {
	m := {v.message | some v in forbidden_grants.violation} with input as role(rule) with data.kubernaut.params as params
}

test_secrets if messages({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}) == {"rule 0 grants \"secrets\""}

test_exec if messages({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}) == {"rule 0 grants \"pods/exec\""}

test_escalate if messages({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["escalate"]}) == {"rule 0 grants the verb \"escalate\"", "rule 0 grants \"clusterroles.rbac.authorization.k8s.io\""}

test_unnamed_bind if count(messages({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]})) == 2

test_named_bind_is_the_controller_exception if {
	count(messages({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["x-action-a"]})) == 0
}

test_binding_management_is_allowed if {
	count(messages({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "delete", "get", "list", "watch"]})) == 0
	messages({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["patch"]}) == {"rule 0 grants \"rolebindings.rbac.authorization.k8s.io\""}
}
