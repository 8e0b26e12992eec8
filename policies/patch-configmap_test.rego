package kubernaut.actions.patch_configmap_test

import data.kubernaut.actions.patch_configmap

base := {
	"action": "patch-configmap",
	"parameters": {"namespace": "shop", "configmap": "web-config", "patch": `{"data":{"LOG_LEVEL":"debug"}}`},
	"target": {"environment": "staging", "labels": {}},
	"release": {"namespace": "kubernaut-system"},
}

test_allows_a_merge_patch if {
	count(patch_configmap.deny) == 0 with input as base
	count(patch_configmap.requires_approval) == 0 with input as base
}

test_denies_kube_root_ca if {
	patch_configmap.deny["refusing to patch kube-root-ca.crt, the cluster's CA bundle"] with input as object.union(base, {"parameters": {"configmap": "kube-root-ca.crt"}})
}

test_denies_kube_system if {
	patch_configmap.deny["refusing to patch ConfigMaps in protected namespace \"kube-system\""] with input as object.union(base, {"parameters": {"namespace": "kube-system"}})
}

test_denies_the_policy_configmap_namespace if {
	patch_configmap.deny["refusing to patch ConfigMaps in protected namespace \"kubernaut-system\""] with input as object.union(base, {"parameters": {"namespace": "kubernaut-system"}})
}

test_denies_a_patch_that_is_not_an_object if {
	patch_configmap.deny["patch must be a JSON object"] with input as object.union(base, {"parameters": {"patch": `["data"]`}})
	patch_configmap.deny["patch must be a JSON object"] with input as object.union(base, {"parameters": {"patch": `{not json`}})
}

test_production_needs_approval if {
	patch_configmap.requires_approval["patching a ConfigMap in production"] with input as object.union(base, {"target": {"environment": "production"}})
}
