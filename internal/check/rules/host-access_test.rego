package kubernaut.checks.rules.host_access_test

import data.kubernaut.checks.rules.host_access

pod(spec) := {"documents": [d], "pods": [{"doc": d, "spec": spec, "labels": {}}]} if d := {"kind": "Pod", "metadata": {"name": "p"}, "spec": spec}

test_none if count(host_access.violation) == 0 with input as pod({"hostNetwork": false, "volumes": [{"name": "tmp", "emptyDir": {}}]})

test_host_namespaces if count(host_access.violation) == 3 with input as pod({"hostNetwork": true, "hostPID": true, "hostIPC": true})

test_host_path if {
	{v.message | some v in host_access.violation} == {"volume \"root\" mounts the node's filesystem (hostPath)"} with input as pod({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]})
}
