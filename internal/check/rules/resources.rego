# METADATA
# title: resources
# description: >-
#   Every container and Task step sets CPU and memory requests and limits.
package kubernaut.checks.rules.resources

import data.kubernaut.checks.lib

violation contains lib.violation(c.doc, sprintf("container %q has no %s.%s", [object.get(c.container, "name", ""), kind, resource])) if {
	some c in lib.containers
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	object.get(c.container, ["resources", kind, resource], null) == null
}
