# METADATA
# title: controller-holds-no-action-permission
# description: >-
#   The controller holds none of the actions' permissions itself, not even narrowed to one object or
#   through a wildcard: it can only bind them to a run. Two reads are not an action's effect and are
#   allowed: `get` (one object by name, never a list), with which it reads a run's target context
#   from the live objects; and reads in its own namespace's Role, where its runs' pods are and which
#   no action may target. (The one place this is checked.)
package kubernaut.checks.rules.controller_holds_no_action_permission

import data.kubernaut.checks.lib

violation contains lib.violation(c, sprintf("grants %s %s/%s, a permission of action %q", [t[2], t[0], t[1], lib.action_of(a)])) if {
	some c in lib.controller_roles
	some a in lib.action_roles
	some t in lib.triples(object.get(c, "rules", []))
	some u in lib.triples(a.rules)
	every i in [0, 1, 2] {
		grants(t[i], u[i])
	}
	not allowed_read(c, t)
}

# A controller group, resource or verb grants the action's when it is the same or "*".
grants(x, x)

grants("*", _)

# Only a named group and resource: a wildcard is never a narrow read.
allowed_read(_, [group, resource, "get"]) if not "*" in {group, resource}

allowed_read(c, [group, resource, verb]) if {
	c.kind == "Role"
	not "*" in {group, resource}
	verb in {"list", "watch"}
}
