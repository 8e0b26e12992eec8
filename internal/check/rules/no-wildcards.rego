# METADATA
# title: no-wildcards
# description: >-
#   No Role or ClusterRole has a wildcard: it grants everything, now and in every future API version.
package kubernaut.checks.rules.no_wildcards

import data.kubernaut.checks.lib

violation contains lib.violation(d, sprintf("rule %d has %q in %s", [i, v, field])) if {
	some d in lib.roles
	some i, rule in object.get(d, "rules", [])
	some field in ["apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"]
	some v in object.get(rule, field, [])
	contains(v, "*")
}
