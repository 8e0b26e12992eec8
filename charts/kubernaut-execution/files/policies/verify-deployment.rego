# METADATA
# title: verify-deployment
# description: Reading a deployment's rollout status.
# schemas:
#   - input: schema.verify_deployment
package kubernaut.actions.verify_deployment

# Read-only: always allowed (the gate still checks the parameters' shape).
deny := set()

requires_approval := set()
