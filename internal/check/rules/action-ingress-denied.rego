# METADATA
# title: action-ingress-denied
# description: >-
#   Nothing connects to an action pod: its policy lists Ingress and allows none.
package kubernaut.checks.rules.action_ingress_denied

import data.kubernaut.checks.lib

violation contains lib.violation(np, "does not deny ingress: policyTypes lacks Ingress") if {
	some np in lib.action_policies
	not "Ingress" in object.get(np.spec, "policyTypes", [])
}

violation contains lib.violation(np, sprintf("allows ingress: %v", [np.spec.ingress])) if {
	some np in lib.action_policies
	count(object.get(np.spec, "ingress", [])) > 0
}
