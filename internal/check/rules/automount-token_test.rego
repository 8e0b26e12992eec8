package kubernaut.checks.rules.automount_token_test

import data.kubernaut.checks.rules.automount_token

sa(n, automount) := object.union({"kind": "ServiceAccount", "metadata": {"name": n, "namespace": "ns"}}, automount)

deployment(n) := {"kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"}, "spec": {"template": {"spec": {"serviceAccountName": n, "containers": []}}}}

binding(n) := {"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "other"}, "subjects": [{"kind": "ServiceAccount", "name": n, "namespace": "ns"}]}

# The pods of the Deployments among docs, as the checker extracts them.
pods(docs) := [{"doc": d, "spec": d.spec.template.spec, "labels": {}} | some d in docs; d.kind == "Deployment"]

messages(docs) := m if {
	m := {v.message | some v in automount_token.violation} with input as {"documents": docs, "pods": pods(docs)}
}

test_used_by_a_pod if count(messages([sa("c", {"automountServiceAccountToken": true}), deployment("c")])) == 0

test_used_by_a_binding if count(messages([sa("s", {"automountServiceAccountToken": true}), binding("s")])) == 0

test_unused_with_token if {
	messages([sa("idle", {"automountServiceAccountToken": true})]) == {"mounts a token although no pod or binding in the render uses it: set automountServiceAccountToken: false"}
}

test_unused_without_token if count(messages([sa("idle", {"automountServiceAccountToken": false})])) == 0

test_unset if messages([sa("c", {}), deployment("c")]) == {"automountServiceAccountToken is not set: say whether this ServiceAccount needs a token"}
