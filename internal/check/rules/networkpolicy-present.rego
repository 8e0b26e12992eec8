# METADATA
# title: networkpolicy-present
# description: >-
#   NetworkPolicies select every pod of the render: the controller's, the action pods (Job template and Tasks) and the helm test pods.
package kubernaut.checks.rules.networkpolicy_present

import data.kubernaut.checks.lib

violation contains lib.violation(p.doc, sprintf("no NetworkPolicy selects its %s pods", [object.get(p.labels, "app.kubernetes.io/component", "")])) if {
	some p in lib.pod_specs
	not selected(p)
}

selected(p) if {
	some np in lib.network_policies
	lib.selects(np, p.labels)
}
