package kubernaut.actions.custom_script_test

import data.kubernaut.actions.custom_script

test_never_denied_approval_from_the_catalogue if {
	count(custom_script.deny) == 0 with input as {"parameters": {"namespace": "shop", "resource": "pods", "selector": "app=web"}, "target": {"environment": "development", "labels": {}}}
	count(custom_script.requires_approval) == 0
}
