# METADATA
# title: rollback-deployment
# description: Rolling a deployment back to an earlier revision. Refuses nothing of its own; production runs need approval (catalogue).
# schemas:
#   - input: schema.rollback_deployment
package kubernaut.actions.rollback_deployment

# Protected namespaces are refused by the gate for every action; nothing else is refused here.
deny := set()

# Production runs need approval: the catalogue says so (approvalInProduction) and the gate applies it.
requires_approval := set()
