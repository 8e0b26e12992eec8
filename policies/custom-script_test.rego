package kubernaut.actions.custom_script_test

import data.kubernaut.actions.custom_script

test_never_denied_always_needs_approval if {
	count(custom_script.deny) == 0 with input as {"parameters": {"namespace": "shop", "resource": "pods", "selector": "app=web"}, "target": {"environment": "development", "labels": {}}}
	custom_script.requires_approval == {"custom scripts always need approval"}
}
