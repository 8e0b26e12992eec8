package kubernaut.checks.rules.image_pinning_test

import data.kubernaut.checks.rules.image_pinning as rule

pod(image) := {"documents": [d], "pods": [{"doc": d, "spec": d.spec, "labels": {}}]} if d := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image}]}}

messages(image, digests) := m if {
	m := {v.message | some v in rule.violation} with input as pod(image) with data.kubernaut.params as {"requireDigests": digests}
}

digest := "registry.k8s.io/kubectl@sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

test_tag if count(messages("registry.k8s.io/kubectl:v1.37.2", false)) == 0

test_latest if messages("registry.k8s.io/kubectl:latest", false) == {"image \"registry.k8s.io/kubectl:latest\" is not pinned: use a version tag or a digest, never latest"}

test_untagged if count(messages("localhost:5000/kubectl", false)) == 1

test_digest if count(messages(digest, true)) == 0

test_digest_required if messages("registry.k8s.io/kubectl:v1.37.2", true) == {"image \"registry.k8s.io/kubectl:v1.37.2\" has no digest"}

test_task_parameter_image if count(messages("$(params.actionImage)", true)) == 0
