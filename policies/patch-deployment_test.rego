package kubernaut.actions.patch_deployment_test

import data.kubernaut.actions.patch_deployment

base := {
	"action": "patch-deployment",
	"parameters": {"namespace": "shop", "deployment": "web", "patch": `{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"limits":{"memory":"512Mi"}}}]}}}}`},
	"target": {"environment": "staging", "labels": {}},
	"release": {"namespace": "kubernaut-system"},
}

with_patch(p) := object.union(base, {"parameters": {"patch": p}})

test_allows_a_resource_patch if {
	count(patch_deployment.deny) == 0 with input as base
	count(patch_deployment.requires_approval) == 0 with input as base
}

test_denies_protected_namespace if {
	patch_deployment.deny["refusing to patch deployments in protected namespace \"kube-system\""] with input as object.union(base, {"parameters": {"namespace": "kube-system"}})
}

test_denies_malformed_patch if {
	patch_deployment.deny["patch must be a JSON object"] with input as with_patch(`{"spec":`)
}

test_denies_privileged if {
	patch_deployment.deny["patch sets privileged, which makes a container privileged"] with input as with_patch(`{"spec":{"template":{"spec":{"containers":[{"name":"web","securityContext":{"privileged":true}}]}}}}`)
}

test_denies_privilege_escalation if {
	patch_deployment.deny["patch sets allowPrivilegeEscalation, which lets a process gain privileges"] with input as with_patch(`{"spec":{"template":{"spec":{"initContainers":[{"name":"i","securityContext":{"allowPrivilegeEscalation":true}}]}}}}`)
}

test_denies_host_namespaces if {
	denied := patch_deployment.deny with input as with_patch(`{"spec":{"template":{"spec":{"hostNetwork":true,"hostPID":true,"hostIPC":true}}}}`)
	denied == {
		"patch sets hostNetwork, which puts the pod in the node's network namespace",
		"patch sets hostPID, which puts the pod in the node's process namespace",
		"patch sets hostIPC, which puts the pod in the node's IPC namespace",
	}
}

test_false_settings_are_fine if {
	count(patch_deployment.deny) == 0 with input as with_patch(`{"spec":{"template":{"spec":{"hostNetwork":false,"containers":[{"name":"web","securityContext":{"privileged":false}}]}}}}`)
}

test_denies_host_path if {
	patch_deployment.deny["patch adds a hostPath volume, which mounts the node's filesystem"] with input as with_patch(`{"spec":{"template":{"spec":{"volumes":[{"name":"root","hostPath":{"path":"/"}}]}}}}`)
}

test_denies_added_capabilities if {
	patch_deployment.deny["patch adds Linux capabilities"] with input as with_patch(`{"spec":{"template":{"spec":{"containers":[{"name":"web","securityContext":{"capabilities":{"add":["NET_ADMIN"]}}}]}}}}`)
}

test_dropping_capabilities_is_fine if {
	count(patch_deployment.deny) == 0 with input as with_patch(`{"spec":{"template":{"spec":{"containers":[{"name":"web","securityContext":{"capabilities":{"add":[],"drop":["ALL"]}}}]}}}}`)
}

test_production_needs_approval if {
	patch_deployment.requires_approval["patching a deployment in production"] with input as object.union(base, {"target": {"environment": "production"}})
}
