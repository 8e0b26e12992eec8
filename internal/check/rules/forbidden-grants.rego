# METADATA
# title: forbidden-grants
# description: >-
#   No role grants what leads to escalation: secrets, exec/attach/port-forward, node proxy, token minting, RBAC and admission objects, certificate approval, escalate/bind/impersonate. The controller's two needs are shaped exceptions: bind only with resourceNames, binding objects only with create/delete/read verbs.
package kubernaut.checks.rules.forbidden_grants

import data.kubernaut.checks.lib

violation contains lib.violation(d, sprintf("rule %d grants the verb %q", [i, v])) if {
	some d in lib.roles
	some i, rule in object.get(d, "rules", [])
	some v in object.get(rule, "verbs", [])
	v in lib.params.forbiddenVerbs
	not named_bind(rule)
}

violation contains lib.violation(d, sprintf("rule %d grants %q", [i, q])) if {
	some d in lib.roles
	some i, rule in object.get(d, "rules", [])
	some g in object.get(rule, "apiGroups", [])
	some r in object.get(rule, "resources", [])
	q := lib.qualified(r, g)
	q in lib.params.forbiddenResources
	not binding_management(q, rule)
	not named_bind(rule)
}

# Only `bind`, only on ClusterRoles named by resourceNames (the controller-bind rule checks the names).
named_bind(rule) if {
	rule.verbs == ["bind"]
	rule.apiGroups == ["rbac.authorization.k8s.io"]
	rule.resources == ["clusterroles"]
	count(object.get(rule, "resourceNames", [])) > 0
}

# Creating bindings grants nothing by itself: the API server's escalation check requires the creator to
# hold the bound role's permissions or `bind` on it.
binding_management(q, rule) if {
	q in {"rolebindings.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io"}
	every v in rule.verbs {
		v in {"create", "delete", "get", "list", "watch"}
	}
}
