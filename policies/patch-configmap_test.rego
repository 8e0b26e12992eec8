package kubernaut.actions.patch_configmap_test

import data.kubernaut.actions.patch_configmap

base := {
	"action": "patch-configmap",
	"parameters": {"namespace": "shop", "configmap": "web-config", "patch": `{"data":{"LOG_LEVEL":"debug"}}`},
	"target": {"environment": "staging", "labels": {}},
}

test_allows_a_merge_patch if {
	count(patch_configmap.deny) == 0 with input as base
	count(patch_configmap.requires_approval) == 0 with input as base
}

test_denies_kube_root_ca if {
	patch_configmap.deny["refusing to patch kube-root-ca.crt, the cluster's CA bundle"] with input as object.union(base, {"parameters": {"configmap": "kube-root-ca.crt"}})
}

test_denies_a_patch_that_is_not_an_object if {
	patch_configmap.deny["patch must be a JSON object"] with input as object.union(base, {"parameters": {"patch": `["data"]`}})
	patch_configmap.deny["patch must be a JSON object"] with input as object.union(base, {"parameters": {"patch": `{not json`}})
}

with_patch(p) := object.union(base, {"parameters": {"patch": p}})

test_allows_setting_and_removing_keys if {
	count(patch_configmap.deny) == 0 with input as with_patch(`{"data":{"LOG_LEVEL":"debug","old.key":null,"app_conf-1":""}}`)
}

# Only data.<key> is a path this action exists for; each other field is refused by name.
test_refuses_every_other_path if {
	patch_configmap.deny["patch may only set data.<key>, not \"metadata\""] with input as with_patch(`{"metadata":{"labels":{"a":"b"}},"data":{"k":"v"}}`)
	patch_configmap.deny["patch may only set data.<key>, not \"binaryData\""] with input as with_patch(`{"binaryData":{"k":"djE="}}`)
	patch_configmap.deny["patch may only set data.<key>, not \"immutable\""] with input as with_patch(`{"immutable":true,"data":{"k":"v"}}`)
	patch_configmap.deny["patch must set at least one data key"] with input as with_patch(`{}`)
	patch_configmap.deny["patch must set at least one data key"] with input as with_patch(`{"data":{}}`)
}

test_refuses_malformed_data if {
	patch_configmap.deny["patch data must be an object of keys"] with input as with_patch(`{"data":null}`)
	patch_configmap.deny["patch data key \"a/b\" is not a valid ConfigMap key"] with input as with_patch(`{"data":{"a/b":"v"}}`)
	patch_configmap.deny["patch data key \"n\" must be a string, or null to remove it"] with input as with_patch(`{"data":{"n":1}}`)
	patch_configmap.deny["patch data key \"o\" must be a string, or null to remove it"] with input as with_patch(`{"data":{"o":{"x":"y"}}}`)
}
