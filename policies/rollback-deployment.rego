# METADATA
# title: rollback-deployment
# description: Rolling a deployment back to an earlier revision.
# schemas:
#   - input: schema.rollback_deployment
package kubernaut.actions.rollback_deployment

import data.kubernaut.lib

deny contains sprintf("refusing to roll back deployments in protected namespace %q", [input.parameters.namespace]) if {
	lib.protected_namespace(input.parameters.namespace)
}

# A rollback in production can undo a fix or a schema migration: a person confirms the revision.
requires_approval contains sprintf("rolling back to revision %s in production", [input.parameters.revision]) if lib.production
