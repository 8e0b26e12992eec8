# METADATA
# title: automount-token
# description: >-
#   Every ServiceAccount says whether it mounts a token; only one a pod or a binding of the render uses may.
package kubernaut.checks.rules.automount_token

import data.kubernaut.checks.lib

# ServiceAccounts something in the render uses: a pod spec runs as it, or a binding grants it rights
# (static mode's per-action ServiceAccounts, used by the controller's Jobs).
used contains [ns, n] if {
	some p in lib.pod_specs
	n := object.get(p.spec, "serviceAccountName", "")
	ns := object.get(p.doc, ["metadata", "namespace"], "")
}

used contains [s.namespace, s.name] if {
	some d in lib.docs
	d.kind in {"RoleBinding", "ClusterRoleBinding"}
	some s in object.get(d, "subjects", [])
	s.kind == "ServiceAccount"
}

violation contains lib.violation(d, "automountServiceAccountToken is not set: say whether this ServiceAccount needs a token") if {
	some d in lib.docs
	d.kind == "ServiceAccount"
	not is_boolean(object.get(d, "automountServiceAccountToken", null))
}

violation contains lib.violation(d, "mounts a token although no pod or binding in the render uses it: set automountServiceAccountToken: false") if {
	some d in lib.docs
	d.kind == "ServiceAccount"
	d.automountServiceAccountToken == true
	not [object.get(d, ["metadata", "namespace"], ""), lib.name(d)] in used
}
