package kubernaut.checks.rules.no_wildcards_test

import data.kubernaut.checks.rules.no_wildcards

role(rules) := {"documents": [{"kind": "Role", "metadata": {"name": "r", "namespace": "n"}, "rules": rules}]}

test_wildcard_verb if {
	no_wildcards.violation == {{"kind": "Role", "namespace": "n", "name": "r", "message": "rule 0 has \"*\" in verbs"}} with input as role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]}])
}

test_wildcard_subresource if {
	count(no_wildcards.violation) == 1 with input as role([{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}])
}

test_no_wildcard if {
	count(no_wildcards.violation) == 0 with input as role([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
}
