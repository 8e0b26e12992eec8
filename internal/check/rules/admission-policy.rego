# METADATA
# title: admission-policy
# description: >-
#   Every change the controller may make to bindings, ServiceAccounts and workloads passes an admission
#   policy of the chart that fails closed and denies: for each resource the controller may create or
#   change, CREATE and UPDATE are matched; for bindings, ServiceAccounts and workloads it may delete,
#   DELETE too.
#   The policy's match conditions name the controller's ServiceAccount, and its Deny binding is not
#   narrowed by matchResources.
package kubernaut.checks.rules.admission_policy

import data.kubernaut.checks.lib

guarded := {"rolebindings", "clusterrolebindings", "serviceaccounts", "jobs", "taskruns", "pipelineruns", "pods"}

# (resource, operation) pairs the controller's RBAC allows.
required contains [resource, op] if {
	some d in lib.controller_roles
	some [_, resource, verb] in lib.triples(object.get(d, "rules", []))
	resource in guarded
	some op in verb_operations(resource, verb)
}

verb_operations(_, verb) := {"CREATE", "UPDATE"} if verb in {"create", "update", "patch"}

# Deleting a run's workload erases its record: a policy must say when that is allowed (once finished).
verb_operations(resource, "delete") := {"DELETE"} if resource in {"rolebindings", "clusterrolebindings", "serviceaccounts", "jobs", "taskruns", "pipelineruns"}

# A policy denies when some binding of the render names it with the Deny action, for every request it
# matches: a binding narrowed by matchResources (a namespace or object selector) enforces nothing where
# it does not select.
denies(p) if {
	some b in lib.docs
	b.kind == "ValidatingAdmissionPolicyBinding"
	b.spec.policyName == lib.name(p)
	"Deny" in object.get(b.spec, "validationActions", [])
	count(object.get(b.spec, "matchResources", {})) == 0
}

# The controller's username, from its ServiceAccount.
controller_users contains sprintf("system:serviceaccount:%s:%s", [object.get(d, ["metadata", "namespace"], ""), lib.name(d)]) if {
	some d in lib.docs
	d.kind == "ServiceAccount"
	lib.component(d) == "controller"
}

# Every match condition names the controller: a policy whose conditions name another identity guards
# nothing the controller does.
names_controller(p) if {
	conditions := object.get(p.spec, "matchConditions", [])
	count(conditions) > 0
	some user in controller_users
	every m in conditions {
		contains(m.expression, sprintf("%q", [user]))
	}
}

fails_closed(p) if object.get(p.spec, "failurePolicy", "Fail") == "Fail"

covers(p, resource, op) if {
	some r in object.get(p.spec, ["matchConstraints", "resourceRules"], [])
	some res in object.get(r, "resources", [])
	res in {resource, "*"}
	some o in object.get(r, "operations", [])
	o in {op, "*"}
}

violation contains lib.missing("ValidatingAdmissionPolicy", "", sprintf("no admission policy that fails closed and denies matches %s of %s by the controller", [op, resource])) if {
	some [resource, op] in required
	not guarded_by_a_policy(resource, op)
}

guarded_by_a_policy(resource, op) if {
	some p in lib.controller_admission_policies
	fails_closed(p)
	denies(p)
	names_controller(p)
	covers(p, resource, op)
}

violation contains lib.violation(p, "its match conditions do not name the controller's ServiceAccount: it guards another identity") if {
	some p in lib.controller_admission_policies
	not names_controller(p)
}

violation contains lib.violation(p, "fails open (failurePolicy: Ignore): a policy that cannot be evaluated must refuse") if {
	some p in lib.controller_admission_policies
	not fails_closed(p)
}
