# METADATA
# title: custom-script
# description: Read-only inspection of labelled objects.
# schemas:
#   - input: schema.custom_script
package kubernaut.actions.custom_script

deny := set()

# A person always looks first: the catalogue says so (approval: true), and the gate applies it to
# every run of this action; the policy adds no reason of its own.
requires_approval := set()
