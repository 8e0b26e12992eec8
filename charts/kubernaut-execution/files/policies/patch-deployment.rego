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

# Every node of the patch with its path, walked once for the rules below.
nodes := [[path, value] | walk(patch, [path, value])]

# The leaf paths a patch may set, matched as lists of keys, a list position being any number: an
# allowlist, not a denylist, which misses whatever it did not think of (serviceAccountName gives the
# pods another identity). Matched by unification, not as text: naming every path cost more than the
# rest of the decision, and a key holding "." or "[]" cannot pass for a path.
allowed(["spec", "template", "spec", "containers", i, "name"]) if is_number(i)

allowed(["spec", "template", "spec", "containers", i, "image"]) if is_number(i)

allowed(["spec", "template", "spec", "containers", i, "env", j, field]) if {
	is_number(i)
	is_number(j)
	field in {"name", "value"}
}

allowed(["spec", "template", "spec", "containers", i, "resources", kind, resource]) if {
	is_number(i)
	kind in {"limits", "requests"}
	resource in {"cpu", "memory", "ephemeral-storage"}
}

# A path as text, for a refusal: keys joined with ".", list positions as "[]", and a key that holds
# ".", "[", "]" or a quote written as ["key"], so that a key spelling a path does not read as one.
path_name(path) := trim_prefix(concat("", [segment | some p in path; segment := segment_name(p)]), ".")

segment_name(p) := "[]" if is_number(p)

segment_name(p) := concat("", [".", p]) if {
	is_string(p)
	not regex.match(`[.\[\]"]`, p)
}

segment_name(p) := sprintf("[%q]", [p]) if {
	is_string(p)
	regex.match(`[.\[\]"]`, p)
}

leaf(value) if not is_object(value)

leaf(value) if {
	is_object(value)
	count(value) == 0
}

deny contains sprintf("patch may not set %s: only a container's image, resources and env are patched", [name]) if {
	is_object(patch)
	some [path, value] in nodes
	not is_array(value)
	leaf(value)
	not allowed(path)
	name := path_name(path)
}

# Directives change how the merge works: $patch: delete/replace removes settings instead of setting them.
deny contains sprintf("patch uses the strategic-merge directive %q", [key]) if {
	is_object(patch)
	some [path, _] in nodes

	# The walk visits every prefix of a path, so each key is the last of one.
	key := path[count(path) - 1]
	is_string(key)
	startswith(key, "$")
}

deny contains "every patched container and env entry must name itself" if {
	some [path, value] in nodes
	count(path) > 0
	is_number(path[count(path) - 1])
	not is_string(object.get(value, "name", null))
}

default registries := []

registries := data.kubernaut.config.allowedImageRegistries

deny contains sprintf("image %q is not from an allowed registry %v (gate.allowedImageRegistries)", [image, registries]) if {
	some [path, image] in nodes
	["spec", "template", "spec", "containers", i, "image"] = path
	is_number(i)
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
