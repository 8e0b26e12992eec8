# METADATA
# title: scale-deployment
# description: Setting a deployment's replica count.
# schemas:
#   - input: schema.scale_deployment
package kubernaut.actions.scale_deployment

import data.kubernaut.lib

# Zero replicas in production is an outage, whatever triggered the remediation.
deny contains "refusing to scale a production deployment to zero replicas" if {
	lib.production
	lib.number("replicas") == 0
}

# Going from a small deployment (below 10) to 50 or more replicas can exhaust the cluster's capacity.
requires_approval contains sprintf("large scale-up from %d to %d replicas", [input.target.currentReplicas, lib.number("replicas")]) if {
	input.target.currentReplicas < 10
	lib.number("replicas") >= 50
}
