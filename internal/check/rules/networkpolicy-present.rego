# METADATA
# title: networkpolicy-present
# description: >-
#   NetworkPolicies select the controller's pods and the action pods (Job template and Tasks).
package kubernaut.checks.rules.networkpolicy_present

import data.kubernaut.checks.lib

violation contains lib.violation(p.doc, sprintf("no NetworkPolicy selects its %s pods", [p.labels["app.kubernetes.io/component"]])) if {
	some p in (lib.controller_pods | lib.action_pods)
	not selected(p)
}

selected(p) if {
	some np in lib.network_policies
	lib.selects(np, p.labels)
}
