package kubernaut.checks.rules.action_complete_test

import data.kubernaut.checks.rules.action_complete

params := {"actionLabel": "example.org/action", "taskPrefix": "remedy-", "catalogue": {"actions": {"a": {}, "b": {}}}}

role(n) := {"kind": "ClusterRole", "metadata": {"name": n, "labels": {"example.org/action": n}}}

policies(keys) := {"kind": "ConfigMap", "metadata": {"name": "p", "labels": {"app.kubernetes.io/component": "policy"}}, "data": {k: "" | some k in keys}}

task(n) := {"kind": "Task", "metadata": {"name": n}}

messages(docs) := m if {
	m := {v.message | some v in action_complete.violation} with input as {"documents": docs} with data.kubernaut.params as params
}

test_complete if count(messages([role("a"), role("b"), policies(["a.rego", "b.rego"]), task("remedy-a"), task("remedy-b")])) == 0

test_complete_without_tasks if count(messages([role("a"), role("b"), policies(["a.rego", "b.rego"])])) == 0

test_missing_role if messages([role("a"), policies(["a.rego", "b.rego"])]) == {"action \"b\" has no ClusterRole labelled example.org/action"}

test_missing_key if messages([role("a"), role("b"), policies(["a.rego"])]) == {"no key b.rego: action \"b\" has no policy"}

test_missing_configmap if messages([role("a"), role("b")]) == {"no policy ConfigMap (labelled app.kubernetes.io/component: policy)"}

test_missing_task if messages([role("a"), role("b"), policies(["a.rego", "b.rego"]), task("remedy-a")]) == {"action \"b\" has no Task"}

# A Task named with another prefix is not the action's Task.
test_task_with_another_prefix if messages([role("a"), role("b"), policies(["a.rego", "b.rego"]), task("remedy-a"), task("kubernaut-b")]) == {"action \"b\" has no Task"}
