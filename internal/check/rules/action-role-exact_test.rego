package kubernaut.checks.rules.action_role_exact_test

import data.kubernaut.checks.rules.action_role_exact

run_rules := [{"apiGroups": ["example.org"], "resources": ["approvals"], "verbs": ["get"]}]

params := {"actionLabel": "example.org/action", "runRules": run_rules, "catalogue": {"actions": {"cordon": {"rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]}}}}

role_with(action, verbs, extra) := {"documents": [{"kind": "ClusterRole", "metadata": {"name": "r", "labels": {"example.org/action": action}}, "rules": array.concat([{"apiGroups": [""], "resources": ["nodes"], "verbs": verbs}], extra)}]}

role(action, verbs) := role_with(action, verbs, run_rules)

messages(inp) := m if {
	m := {v.message | some v in action_role_exact.violation} with input as inp with data.kubernaut.params as params
}

test_exact if count(messages(role("cordon", ["patch", "get"]))) == 0

test_extra if messages(role("cordon", ["get", "patch", "delete"])) == {"grants {[\"\", \"nodes\", \"delete\"]} beyond the catalogue's rules of \"cordon\""}

test_lacking if messages(role("cordon", ["get"])) == {"lacks {[\"\", \"nodes\", \"patch\"]} of the catalogue's rules of \"cordon\""}

test_unknown_action if messages(role("reboot", ["get"])) == {"action \"reboot\" is not in the catalogue"}

# Every run reads its own approval: a role without the run rules lacks them.
test_lacking_the_run_rules if messages(role_with("cordon", ["get", "patch"], [])) == {"lacks {[\"example.org\", \"approvals\", \"get\"]} of the catalogue's rules of \"cordon\""}
