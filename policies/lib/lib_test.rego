package kubernaut.lib_test

import data.kubernaut.lib

test_number_only_for_digits if {
	lib.number("n") == 42 with input as {"parameters": {"n": "42"}}
	not lib.number("n") with input as {"parameters": {"n": "-1"}}
	not lib.number("n") with input as {"parameters": {"n": "1e9"}}
	not lib.number("n") with input as {"parameters": {"n": "007"}}
}

test_database_by_name_or_class if {
	lib.is_database with input as {"target": {"labels": {"app": "Redis"}}}
	lib.is_database with input as {"target": {"labels": {"kubernaut.io/class": "database"}}}
	not lib.is_database with input as {"target": {"labels": {"app": "web"}}}
}

test_kube_apiserver if {
	lib.is_kube_apiserver with input as {"parameters": {"pod": "kube-apiserver-cp-1"}, "target": {"labels": {}}}
	not lib.is_kube_apiserver with input as {"parameters": {"pod": "web"}, "target": {"labels": {}}}
}

test_control_plane_node if {
	lib.is_control_plane_node with input as {"target": {"labels": {"node-role.kubernetes.io/control-plane": ""}}}
	not lib.is_control_plane_node with input as {"target": {"labels": {"node-role.kubernetes.io/worker": ""}}}
}

test_json_or_null if {
	lib.json_or_null(`{"a":1}`) == {"a": 1}
	lib.json_or_null(`{"a":`) == null
}

test_production if {
	lib.production with input as {"target": {"environment": "production"}}
	not lib.production with input as {"target": {"environment": "staging"}}
}
