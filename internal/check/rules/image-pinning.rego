# METADATA
# title: image-pinning
# description: >-
#   Images carry a tag that is not latest, and a digest where the render must be pinned (kubernaut-execution check --require-digests).
package kubernaut.checks.rules.image_pinning

import data.kubernaut.checks.lib

# The generic Task's image comes from a run's parameter.
checked contains {"doc": c.doc, "image": image} if {
	some c in lib.containers
	image := object.get(c.container, "image", "")
	not startswith(image, "$(params.")
}

violation contains lib.violation(x.doc, sprintf("image %q is not pinned: use a version tag or a digest, never latest", [x.image])) if {
	some x in checked
	not pinned(x.image)
}

violation contains lib.violation(x.doc, sprintf("image %q has no digest", [x.image])) if {
	lib.params.requireDigests
	some x in checked
	not contains(x.image, "@sha256:")
}

pinned(image) if contains(image, "@sha256:")

pinned(image) if {
	not contains(image, "@")
	parts := split(image, "/")
	tag := split(parts[count(parts) - 1], ":")
	count(tag) == 2
	not tag[1] in {"", "latest"}
}
