# METADATA
# title: custom-script
# description: >-
#   Read-only inspection of labelled objects: names and metadata, never data. The selector must be
#   exactly one positive equality, key=value, on a label key and value of the shapes Kubernetes allows;
#   every other form (!=, ==, in, notin, an existence test key or !key, several requirements joined by
#   commas) is refused. The command adds kubernaut.ai/managed!=false itself, so objects opted out of
#   Kubernaut are never listed.
# schemas:
#   - input: schema.custom_script
package kubernaut.actions.custom_script

# The catalogue's pattern for the selector says the same in one expression; these rules say which part
# is wrong. One requirement keeps the read to what the caller names: a comma would add requirements of
# the caller's choosing, and the other operators widen or invert the match.
selector := input.parameters.selector

one_equality if regex.match(`^[^=!,()\s]+=[^=!,()\s]*$`, selector)

deny contains sprintf(`parameter "selector" must be one label equality key=value (no "!=", "==", "in", "notin", "!key", bare key or commas), got %q`, [selector]) if {
	not one_equality
}

key := split(selector, "=")[0] if one_equality

value := split(selector, "=")[1] if one_equality

# A label key's name part and a label value (the API server's IsQualifiedName and IsValidLabelValue),
# here never empty: an empty value would select on the key alone.
name_shape := `^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`

# A key's optional prefix is a DNS subdomain.
prefix_shape := `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`

label_key if regex.match(name_shape, key)

label_key if {
	parts := split(key, "/")
	count(parts) == 2
	count(parts[0]) <= 253
	regex.match(prefix_shape, parts[0])
	regex.match(name_shape, parts[1])
}

deny contains sprintf(`parameter "selector": key %q is not a label key ([prefix/]name: the name 1 to 63 letters, digits, "-", "_" or "." with a letter or digit at each end; the prefix a DNS subdomain of at most 253 characters)`, [key]) if {
	one_equality
	not label_key
}

deny contains sprintf(`parameter "selector": value %q is not a label value (1 to 63 letters, digits, "-", "_" or "." with a letter or digit at each end)`, [value]) if {
	one_equality
	not regex.match(name_shape, value)
}

# A person always looks first: the catalogue says so (approval: true), and the gate applies it to
# every run of this action; the policy adds no reason of its own.
requires_approval := set()
