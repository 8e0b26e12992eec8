# METADATA
# title: run-contract
# description: >-
#   Every changing request an action's role allows is bounded by admission for that action's run
#   identities: a ValidatingAdmissionPolicy of the chart whose match condition names the release's
#   per-run ServiceAccounts, which fails closed, is bound with Deny, matches every operation on every
#   resource, and lists the request (group/resource/OPERATION) for that action in its requests variable.
package kubernaut.checks.rules.run_contract

import data.kubernaut.checks.lib

operations := {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE", "deletecollection": "DELETE"}

required contains [action, sprintf("%s/%s/%s", [g, r, operations[v]])] if {
	some d in lib.action_roles
	action := lib.action_of(d)
	some [g, r, v] in lib.triples(object.get(d, "rules", []))
	operations[v]
}

run_policies contains p if {
	some p in lib.docs
	p.kind == "ValidatingAdmissionPolicy"
	lib.component(p) == "action"
}

requests(p) := json.unmarshal(v.expression) if {
	some v in object.get(p.spec, "variables", [])
	v.name == "requests"
}

# Bound with Deny for every request it matches (no matchResources narrowing it), and never skipped
# when its parameter, the release namespace, cannot be found.
denies(p) if {
	some b in lib.docs
	b.kind == "ValidatingAdmissionPolicyBinding"
	b.spec.policyName == lib.name(p)
	"Deny" in object.get(b.spec, "validationActions", [])
	count(object.get(b.spec, "matchResources", {})) == 0
	object.get(b.spec, ["paramRef", "parameterNotFoundAction"], "Deny") == "Deny"
}

fails_closed(p) if object.get(p.spec, "failurePolicy", "Fail") == "Fail"

all_operations := {"CREATE", "UPDATE", "DELETE"}

matches_everything(p) if {
	some r in object.get(p.spec, ["matchConstraints", "resourceRules"], [])
	"*" in object.get(r, "apiGroups", [])
	"*/*" in object.get(r, "resources", [])
	ops := {o | some o in object.get(r, "operations", [])}
	count(all_operations - ops) == 0
}

matches_everything(p) if {
	some r in object.get(p.spec, ["matchConstraints", "resourceRules"], [])
	"*" in object.get(r, "apiGroups", [])
	"*/*" in object.get(r, "resources", [])
	"*" in object.get(r, "operations", [])
}

# The match conditions name the per-run ServiceAccounts of a release namespace.
names_run_identities(p) if {
	some ns in lib.release_namespaces
	identity := sprintf("system:serviceaccount:%s:", [ns])
	conditions := object.get(p.spec, "matchConditions", [])
	count(conditions) > 0
	every m in conditions {
		contains(m.expression, identity)
		contains(m.expression, lib.params.runServiceAccountInfix)
	}
}

bounds(p, action, key) if {
	fails_closed(p)
	denies(p)
	matches_everything(p)
	names_run_identities(p)
	key in requests(p)[action]
}

violation contains lib.missing("ValidatingAdmissionPolicy", "", sprintf("no admission policy that fails closed, denies, matches every request and names the run identities bounds %s's request %s", [action, key])) if {
	some [action, key] in required
	not bounded(action, key)
}

bounded(action, key) if {
	some p in run_policies
	bounds(p, action, key)
}
