# METADATA
# title: rollback-deployment
# description: Rolling a deployment back to an earlier revision.
# schemas:
#   - input: schema.rollback_deployment
package kubernaut.actions.rollback_deployment

import data.kubernaut.lib

# Protected namespaces are refused by the gate for every action; nothing else is refused here.
deny := set()

# A rollback in production can undo a fix or a schema migration: a person confirms the revision.
requires_approval contains sprintf("rolling back to revision %s in production", [input.parameters.revision]) if lib.production
