# METADATA
# title: controller-bind
# description: >-
#   The controller's ClusterRole binds exactly the per-action ClusterRoles, by name, whenever it may
#   make bindings (ephemeral mode). Static mode binds at install time: no bind rule is needed there.
package kubernaut.checks.rules.controller_bind

import data.kubernaut.checks.lib

action_role_names := {lib.name(d) | some d in lib.action_roles}

bind_rules(d) := [rule |
	some rule in object.get(d, "rules", [])
	"bind" in object.get(rule, "verbs", [])
]

violation contains lib.missing("ClusterRole", "", "no controller ClusterRole (labelled app.kubernetes.io/component: controller)") if {
	count(lib.controller_cluster_roles) == 0
}

makes_bindings if {
	some d in lib.controller_roles
	some [_, resource, "create"] in lib.triples(object.get(d, "rules", []))
	resource in {"rolebindings", "clusterrolebindings"}
}

violation contains lib.violation(d, "no rule grants bind on the per-action ClusterRoles") if {
	makes_bindings
	some d in lib.controller_cluster_roles
	count(bind_rules(d)) == 0
}

violation contains lib.violation(d, sprintf("bind resourceNames %v are not the per-action ClusterRoles %v", [names, action_role_names])) if {
	some d in lib.controller_cluster_roles
	some rule in bind_rules(d)
	names := {n | some n in object.get(rule, "resourceNames", [])}
	names != action_role_names
}
