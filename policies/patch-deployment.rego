# METADATA
# title: patch-deployment
# description: Merging a strategic patch into a deployment.
# schemas:
#   - input: schema.patch_deployment
package kubernaut.actions.patch_deployment

import data.kubernaut.lib

deny contains sprintf("refusing to patch deployments in protected namespace %q", [input.parameters.namespace]) if {
	lib.protected_namespace(input.parameters.namespace)
}

patch := lib.json_or_null(input.parameters.patch)

deny contains "patch must be a JSON object" if not is_object(patch)

# A remediation must never widen a workload's privileges: these settings escape the container.
escalations := {
	"privileged": "makes a container privileged",
	"allowPrivilegeEscalation": "lets a process gain privileges",
	"hostNetwork": "puts the pod in the node's network namespace",
	"hostPID": "puts the pod in the node's process namespace",
	"hostIPC": "puts the pod in the node's IPC namespace",
}

deny contains sprintf("patch sets %s, which %s", [key, why]) if {
	some path, value
	walk(patch, [path, value])
	value == true
	key := path[count(path) - 1]
	why := escalations[key]
}

# hostPath mounts the node's filesystem into the pod.
deny contains "patch adds a hostPath volume, which mounts the node's filesystem" if {
	some path
	walk(patch, [path, _])
	path[count(path) - 1] == "hostPath"
}

# Added capabilities widen what a process in the container may do.
deny contains "patch adds Linux capabilities" if {
	some path, value
	walk(patch, [path, value])
	path[count(path) - 2] == "capabilities"
	path[count(path) - 1] == "add"
	count(value) > 0
}

requires_approval contains "patching a deployment in production" if lib.production
