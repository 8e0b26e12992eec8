# METADATA
# title: patch-configmap
# description: >-
#   Merging a JSON patch into a ConfigMap. Allowed paths: data.<key> set to a string or removed with
#   null, where <key> is a valid ConfigMap key. Every other path (metadata, binaryData, immutable) is
#   refused: the action changes configuration values, not the object.
# schemas:
#   - input: schema.patch_configmap
package kubernaut.actions.patch_configmap

import data.kubernaut.lib

# kube-root-ca.crt is published into every namespace by the control plane; pods trust what it says.
deny contains "refusing to patch kube-root-ca.crt, the cluster's CA bundle" if {
	input.parameters.configmap == "kube-root-ca.crt"
}

patch := lib.json_or_null(input.parameters.patch)

# A merge patch must be a JSON object; anything else is a malformed request.
deny contains "patch must be a JSON object" if not is_object(patch)

deny contains sprintf("patch may only set data.<key>, not %q", [field]) if {
	some field, _ in patch
	field != "data"
}

deny contains "patch must set at least one data key" if {
	data_keys := object.get(patch, "data", {})
	is_object(data_keys)
	count(data_keys) == 0
}

deny contains "patch data must be an object of keys" if {
	is_object(patch)
	not is_object(object.get(patch, "data", {}))
}

# The API server's rule for ConfigMap keys (IsConfigMapKey).
key_shape := `^[-._a-zA-Z0-9]{1,253}$`

deny contains sprintf("patch data key %q is not a valid ConfigMap key", [key]) if {
	some key, _ in object.get(patch, "data", {})
	not regex.match(key_shape, key)
}

deny contains sprintf("patch data key %q must be a string, or null to remove it", [key]) if {
	some key, value in object.get(patch, "data", {})
	not is_string(value)
	not is_null(value)
}

# Production runs need approval: the catalogue says so (approvalInProduction) and the gate applies it.
requires_approval := set()
