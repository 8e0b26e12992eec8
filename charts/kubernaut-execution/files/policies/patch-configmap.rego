# METADATA
# title: patch-configmap
# description: Merging a JSON patch into a ConfigMap.
# schemas:
#   - input: schema.patch_configmap
package kubernaut.actions.patch_configmap

import data.kubernaut.lib

# kube-root-ca.crt is published into every namespace by the control plane; pods trust what it says.
deny contains "refusing to patch kube-root-ca.crt, the cluster's CA bundle" if {
	input.parameters.configmap == "kube-root-ca.crt"
}

# Control-plane configuration, and this bundle's own (its policies live in a ConfigMap there).
deny contains sprintf("refusing to patch ConfigMaps in protected namespace %q", [input.parameters.namespace]) if {
	lib.protected_namespace(input.parameters.namespace)
}

# A merge patch must be a JSON object; anything else is a malformed request.
deny contains "patch must be a JSON object" if not is_object(lib.json_or_null(input.parameters.patch))

# Configuration changes in production take effect on the next reload, often everywhere at once.
requires_approval contains "patching a ConfigMap in production" if lib.production
