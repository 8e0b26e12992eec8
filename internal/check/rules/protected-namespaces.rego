# METADATA
# title: protected-namespaces
# description: >-
#   The release namespace is protected (its policy ConfigMap holds the gate), and the gate and the
#   binding admission policy protect the same namespaces: the policy ConfigMap's _config.json and the
#   admission policy's protectedNamespaces variable list the release namespace and agree.
package kubernaut.checks.rules.protected_namespaces

import data.kubernaut.checks.lib

policy_configmaps contains d if {
	some d in lib.docs
	d.kind == "ConfigMap"
	component(d) == "policy"
}

component(d) := lib.component(d)

gate_lists contains {"doc": d, "namespaces": {ns | some ns in list}} if {
	some d in policy_configmaps
	config := json.unmarshal(d.data["_config.json"])
	list := config.kubernaut.config.protectedNamespaces
}

admission_lists contains {"doc": p, "namespaces": {ns | some ns in json.unmarshal(v.expression)}} if {
	some p in lib.controller_admission_policies
	some v in object.get(p.spec, "variables", [])
	v.name == "protectedNamespaces"
}

violation contains lib.violation(d, "the policy ConfigMap has no _config.json with kubernaut.config.protectedNamespaces: the gate refuses every run") if {
	some d in policy_configmaps
	not d in {l.doc | some l in gate_lists}
}

violation contains lib.violation(l.doc, sprintf("protected namespaces %v miss the release namespace %q", [sort(l.namespaces), ns])) if {
	some l in (gate_lists | admission_lists)
	some ns in lib.release_namespaces
	not ns in l.namespaces
}

violation contains lib.violation(a.doc, sprintf("protects %v but the gate protects %v: they must agree", [sort(a.namespaces), sort(g.namespaces)])) if {
	some a in admission_lists
	some g in gate_lists
	a.namespaces != g.namespaces
}
