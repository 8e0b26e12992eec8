# METADATA
# title: patch-deployment
# description: >-
#   Merging a strategic patch into a deployment's containers: resources, environment and image, and
#   nothing else. Allowed paths, each under spec.template.spec.containers[] (matched by name):
#   name; image (only from gate.allowedImageRegistries); resources.limits and resources.requests
#   .cpu, .memory, .ephemeral-storage; env[].name and env[].value. Every other path is refused
#   (serviceAccountName, securityContext, volumes, command, valueFrom, ...), and so is every
#   strategic-merge directive ($patch, $retainKeys, $setElementOrder, $deleteFromPrimitiveList).
# schemas:
#   - input: schema.patch_deployment
package kubernaut.actions.patch_deployment

import data.kubernaut.lib

patch := lib.json_or_null(input.parameters.patch)

deny contains "patch must be a JSON object" if not is_object(patch)

containers := "spec.template.spec.containers[]"

# Leaf paths a patch may set, list positions written as [], each under containers. Allowlisted, not
# denylisted: a denylist misses whatever it did not think of (serviceAccountName gives the pods another
# identity). Written out: a comprehension would be evaluated again on every decision.
allowed_paths := {
	"spec.template.spec.containers[].name",
	"spec.template.spec.containers[].image",
	"spec.template.spec.containers[].env[].name",
	"spec.template.spec.containers[].env[].value",
	"spec.template.spec.containers[].resources.limits.cpu",
	"spec.template.spec.containers[].resources.limits.memory",
	"spec.template.spec.containers[].resources.limits.ephemeral-storage",
	"spec.template.spec.containers[].resources.requests.cpu",
	"spec.template.spec.containers[].resources.requests.memory",
	"spec.template.spec.containers[].resources.requests.ephemeral-storage",
}

# A path as text: keys joined with ".", list positions as "[]".
path_name(path) := trim_prefix(concat("", [segment | some p in path; segment := segment_name(p)]), ".")

segment_name(p) := "[]" if is_number(p)

segment_name(p) := concat("", [".", p]) if is_string(p)

leaf(value) if not is_object(value)

leaf(value) if {
	is_object(value)
	count(value) == 0
}

deny contains sprintf("patch may not set %s: only a container's image, resources and env are patched", [name]) if {
	is_object(patch)
	some path, value
	walk(patch, [path, value])
	not is_array(value)
	leaf(value)
	name := path_name(path)
	not name in allowed_paths
}

# Directives change how the merge works: $patch: delete/replace removes settings instead of setting them.
deny contains sprintf("patch uses the strategic-merge directive %q", [key]) if {
	is_object(patch)
	some path
	walk(patch, [path, _])

	# The walk visits every prefix of a path, so each key is the last of one.
	key := path[count(path) - 1]
	is_string(key)
	startswith(key, "$")
}

deny contains "every patched container and env entry must name itself" if {
	some path, value
	walk(patch, [path, value])
	count(path) > 0
	is_number(path[count(path) - 1])
	not is_string(object.get(value, "name", null))
}

default registries := []

registries := data.kubernaut.config.allowedImageRegistries

# Naming a path costs a call per key: only a path whose last key ends with "image" can have the name
# below, so only those paths are named.
deny contains sprintf("image %q is not from an allowed registry %v (gate.allowedImageRegistries)", [image, registries]) if {
	some path, image
	walk(patch, [path, image])
	last := path[count(path) - 1]
	is_string(last)
	endswith(last, "image")
	path_name(path) == sprintf("%s.image", [containers])
	not from_allowed_registry(image)
}

# A reference whose path has no ".." or "//" (the prefix match below must mean what it says).
image_shape := `^[a-z0-9][a-z0-9.:-]*(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`

from_allowed_registry(image) if {
	is_string(image)
	regex.match(image_shape, image)
	some prefix in registries
	startswith(image, prefix)
}

# Production runs need approval: the catalogue says so (approvalInProduction) and the gate applies it.
requires_approval := set()
