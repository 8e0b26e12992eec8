# METADATA
# title: networkpolicy-namespace-label
# description: >-
#   Namespaces are selected by kubernetes.io/metadata.name, the only namespace label Kubernetes sets itself (name: kube-system matches nothing unless someone set it).
package kubernaut.checks.rules.networkpolicy_namespace_label

import data.kubernaut.checks.lib

violation contains lib.violation(np, sprintf("namespaceSelector %v: select namespaces by kubernetes.io/metadata.name only", [selector])) if {
	some np in lib.network_policies
	some direction in ["ingress", "egress"]
	some rule in object.get(np.spec, direction, [])
	some peer in lib.peers(rule)
	selector := peer.namespaceSelector
	object.keys(object.get(selector, "matchLabels", {})) != {"kubernetes.io/metadata.name"}
}
