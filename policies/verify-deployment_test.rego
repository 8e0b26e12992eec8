package kubernaut.actions.verify_deployment_test

import data.kubernaut.actions.verify_deployment

test_always_allowed if {
	count(verify_deployment.deny) == 0 with input as {"parameters": {"namespace": "kube-system", "deployment": "coredns", "timeoutSeconds": "60"}, "target": {"environment": "production", "labels": {}}}
	count(verify_deployment.requires_approval) == 0
}
