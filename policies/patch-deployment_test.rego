package kubernaut.actions.patch_deployment_test

import data.kubernaut.actions.patch_deployment

base := {
	"action": "patch-deployment",
	"parameters": {"namespace": "shop", "deployment": "web", "patch": `{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"limits":{"memory":"512Mi"}}}]}}}}`},
	"target": {"environment": "staging", "labels": {}},
}

with_patch(p) := object.union(base, {"parameters": {"patch": p}})

test_allows_a_resource_patch if {
	count(patch_deployment.deny) == 0 with input as base
	count(patch_deployment.requires_approval) == 0 with input as base
}

test_denies_malformed_patch if {
	patch_deployment.deny["patch must be a JSON object"] with input as with_patch(`{"spec":`)
}

config := {"allowedImageRegistries": ["registry.example.com/shop/"], "protectedNamespaces": []}

denied(p) := d if {
	d := patch_deployment.deny with input as with_patch(p) with data.kubernaut.config as config
}

refused(p, msg) if msg in denied(p)

# The ordinary patches the action exists for pass.
test_allows_resources_env_and_image if {
	count(denied(`{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"1","memory":"512Mi","ephemeral-storage":"1Gi"}}}]}}}}`)) == 0
	count(denied(`{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"LOG_LEVEL","value":"debug"},{"name":"EMPTY"}]}]}}}}`)) == 0
	count(denied(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example.com/shop/web:1.2.3"}]}}}}`)) == 0
	count(denied(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example.com/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}]}}}}`)) == 0
}

# What a denylist missed: another ServiceAccount gives the pods that identity.
test_refuses_service_account if {
	refused(`{"spec":{"template":{"spec":{"serviceAccountName":"admin-sa"}}}}`, "patch may not set spec.template.spec.serviceAccountName: only a container's image, resources and env are patched")
}

# What a denylist missed: directives remove settings instead of setting them.
test_refuses_directives if {
	refused(`{"spec":{"template":{"spec":{"containers":[{"name":"web","securityContext":{"$patch":"delete"}}]}}}}`, "patch uses the strategic-merge directive \"$patch\"")
	refused(`{"spec":{"template":{"spec":{"$retainKeys":["containers"],"containers":[{"name":"web"}]}}}}`, "patch uses the strategic-merge directive \"$retainKeys\"")
	refused(`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}]}}}}`, "patch uses the strategic-merge directive \"$setElementOrder/containers\"")
	refused(`{"spec":{"template":{"spec":{"containers":[{"name":"web","$deleteFromPrimitiveList/args":["--safe"]}]}}}}`, "patch uses the strategic-merge directive \"$deleteFromPrimitiveList/args\"")
}

# Each escape the old denylist named is still refused, now because its path is not allowed.
test_refuses_every_other_path if {
	every p, name in {
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","securityContext":{"privileged":true}}]}}}}`: "spec.template.spec.containers[].securityContext.privileged",
		`{"spec":{"template":{"spec":{"initContainers":[{"name":"i","image":"registry.example.com/shop/i:1"}]}}}}`: "spec.template.spec.initContainers[].image",
		`{"spec":{"template":{"spec":{"hostNetwork":false}}}}`: "spec.template.spec.hostNetwork",
		`{"spec":{"template":{"spec":{"volumes":[{"name":"root","hostPath":{"path":"/"}}]}}}}`: "spec.template.spec.volumes[].hostPath.path",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","command":["sh"]}]}}}}`: "spec.template.spec.containers[].command[]",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"T","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}}]}]}}}}`: "spec.template.spec.containers[].env[].valueFrom.secretKeyRef.name",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","env":null}]}}}}`: "spec.template.spec.containers[].env",
		`{"spec":{"replicas":0}}`: "spec.replicas",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{}}]}}}}`: "spec.template.spec.containers[].resources",
		`{"metadata":{"labels":{"a":"b"}}}`: "metadata.labels.a",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"T","valueFrom":"x"}]}]}}}}`: "spec.template.spec.containers[].env[].valueFrom",
		`{"spec":{"template":{"spec":{"containers":{"web":{"resources":{"limits":{"cpu":"1"}},"env":[{"name":"T"}]}}}}}}`: "spec.template.spec.containers.web.resources.limits.cpu",
		`{"spec":{"template":{"spec":{"containers":{"web":{"env":[{"name":"T"}]}}}}}}`: "spec.template.spec.containers.web.env[].name",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","env":{"T":{"name":"T"}}}]}}}}`: "spec.template.spec.containers[].env.T.name",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"claims":{"cpu":"1"}}}]}}}}`: "spec.template.spec.containers[].resources.claims.cpu",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","resources":{"limits":{"nvidia.com/gpu":"8"}}}]}}}}`: `spec.template.spec.containers[].resources.limits["nvidia.com/gpu"]`,
	} {
		refused(p, sprintf("patch may not set %s: only a container's image, resources and env are patched", [name]))
	}
}

test_refuses_unnamed_entries if {
	refused(`{"spec":{"template":{"spec":{"containers":[{"image":"registry.example.com/shop/web:1"}]}}}}`, "every patched container and env entry must name itself")
	refused(`{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"value":"x"}]}]}}}}`, "every patched container and env entry must name itself")
}

test_refuses_images_from_other_registries if {
	msg := "image %q is not from an allowed registry [\"registry.example.com/shop/\"] (gate.allowedImageRegistries)"
	refused(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"evil.example.com/web:1"}]}}}}`, sprintf(msg, ["evil.example.com/web:1"]))
	refused(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example.com/shop/../other/web:1"}]}}}}`, sprintf(msg, ["registry.example.com/shop/../other/web:1"]))
	refused(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example.com/shopping/web:1"}]}}}}`, sprintf(msg, ["registry.example.com/shopping/web:1"]))
	count(denied(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":7}]}}}}`)) == 1
}

# No registry configured (the default): no image change passes.
test_no_registries_no_images if {
	"image \"registry.example.com/shop/web:1\" is not from an allowed registry [] (gate.allowedImageRegistries)" in patch_deployment.deny with input as with_patch(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example.com/shop/web:1"}]}}}}`)
}

# A key that spells a whole path is not that path: paths are matched as lists of keys, so it is refused
# as any other path is, whatever its image.
test_refuses_a_dotted_key_that_spells_a_path if {
	refused(`{"spec":{"template":{"spec":{"containers[].image":"evil.example.com/web:1"}}}}`, "patch may not set spec.template.spec[\"containers[].image\"]: only a container's image, resources and env are patched")
	refused(`{"spec":{"template":{"spec":{"containers":[{"name":"web","resources.limits":{"cpu":"1"}}]}}}}`, "patch may not set spec.template.spec.containers[][\"resources.limits\"].cpu: only a container's image, resources and env are patched")
	refused(`{"spec":{"template":{"spec":{"containers":{"web":{"image":"registry.example.com/shop/web:1"}}}}}}`, "patch may not set spec.template.spec.containers.web.image: only a container's image, resources and env are patched")
}
