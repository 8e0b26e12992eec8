# METADATA
# title: action-role-exact
# description: >-
#   Each per-action ClusterRole grants exactly its catalogue rules' (group, resource, verb) triples and
#   the rules every run gets (reading its ActionRun and ActionApproval): no more, no less. A rule narrowed by resourceNames is what rbac-covers (upstream Covers) catches.
package kubernaut.checks.rules.action_role_exact

import data.kubernaut.checks.lib

violation contains lib.violation(d, sprintf("action %q is not in the catalogue", [action])) if {
	some d in lib.action_roles
	action := lib.action_of(d)
	not lib.params.catalogue.actions[action]
}

violation contains lib.violation(d, sprintf("grants %v beyond the catalogue's rules of %q", [extra, action])) if {
	some d in lib.action_roles
	action := lib.action_of(d)
	want := lib.triples(lib.params.catalogue.actions[action].rules) | lib.triples(lib.params.runRules)
	extra := lib.triples(object.get(d, "rules", [])) - want
	count(extra) > 0
}

violation contains lib.violation(d, sprintf("lacks %v of the catalogue's rules of %q", [lacking, action])) if {
	some d in lib.action_roles
	action := lib.action_of(d)
	want := lib.triples(lib.params.catalogue.actions[action].rules) | lib.triples(lib.params.runRules)
	lacking := want - lib.triples(object.get(d, "rules", []))
	count(lacking) > 0
}
