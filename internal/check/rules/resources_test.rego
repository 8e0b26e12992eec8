package kubernaut.checks.rules.resources_test

import data.kubernaut.checks.rules.resources

pod(r) := {"documents": [d], "pods": [{"doc": d, "spec": d.spec, "labels": {}}]} if d := {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": r}]}}

full := {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}

test_set if count(resources.violation) == 0 with input as pod(full)

test_no_limits if {
	{v.message | some v in resources.violation} == {"container \"c\" has no limits.cpu", "container \"c\" has no limits.memory"} with input as pod({"requests": full.requests})
}
