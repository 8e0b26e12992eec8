# METADATA
# title: host-access
# description: >-
#   No pod uses the node's network, process or IPC namespace, or mounts the node's filesystem.
package kubernaut.checks.rules.host_access

import data.kubernaut.checks.lib

violation contains lib.violation(p.doc, sprintf("%s: true puts the pod in the node's namespace", [field])) if {
	some p in lib.pod_specs
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	object.get(p.spec, field, false) == true
}

violation contains lib.violation(p.doc, sprintf("volume %q mounts the node's filesystem (hostPath)", [v.name])) if {
	some p in lib.pod_specs
	some v in object.get(p.spec, "volumes", [])
	v.hostPath
}
