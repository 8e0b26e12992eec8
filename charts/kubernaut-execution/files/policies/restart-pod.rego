# METADATA
# title: restart-pod
# description: Deleting a pod so its controller replaces it.
# schemas:
#   - input: schema.restart_pod
package kubernaut.actions.restart_pod

import data.kubernaut.lib

# Restarting the API server cuts every controller off, this one included.
deny contains "refusing to restart a kube-apiserver pod" if lib.is_kube_apiserver

# A pod with no controller is not restarted by deleting it, it is gone.
deny contains sprintf("pod %q has no owning controller; deleting it would not restart it", [input.parameters.pod]) if {
	input.target.ownerKind == ""
}

# Database pods can lose in-flight transactions or trigger a failover: a person decides.
requires_approval contains "restarting a database pod" if lib.is_database
