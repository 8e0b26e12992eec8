# METADATA
# title: custom-script
# description: Read-only inspection of labelled objects.
# schemas:
#   - input: schema.custom_script
package kubernaut.actions.custom_script

deny := set()

# Custom scripts are where operators reach for what the catalogue does not cover: a person always
# looks first, whatever the catalogue's default says.
requires_approval contains "custom scripts always need approval"
