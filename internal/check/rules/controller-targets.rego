# METADATA
# title: controller-targets
# description: >-
#   The controller may not create, change or delete Namespaces or Nodes: their labels decide what is a
#   target (kubernaut.ai/managed) and whether runs are paused (kubernaut.io/paused), so a controller
#   that could write them could opt anything in, or lift the kill switch.
package kubernaut.checks.rules.controller_targets

import data.kubernaut.checks.lib

guarded := {"namespaces", "nodes", "*"}

writes := {"create", "update", "patch", "delete", "deletecollection", "*"}

violation contains lib.violation(d, sprintf("the controller may %s %s: their labels decide what runs may act on and whether runs are paused", [verb, resource])) if {
	some d in lib.controller_roles
	some [group, resource, verb] in lib.triples(object.get(d, "rules", []))
	group in {"", "*"}
	resource in guarded
	verb in writes
}
