# METADATA
# title: controller-holds-no-action-permission
# description: >-
#   The controller holds none of the actions' permissions itself: it can only bind them to a run.
package kubernaut.checks.rules.controller_holds_no_action_permission

import data.kubernaut.checks.lib

violation contains lib.violation(c, sprintf("grants %s %s/%s, a permission of action %q", [t[2], t[0], t[1], lib.action_of(a)])) if {
	some c in lib.controller_roles
	some a in lib.action_roles
	some t in lib.triples(object.get(c, "rules", []))
	t in lib.triples(a.rules)
}
