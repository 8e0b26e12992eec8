# METADATA
# title: action-complete
# description: >-
#   Every catalogue action has its ClusterRole, its key in the policy ConfigMap and, when Tasks are rendered, its Task.
package kubernaut.checks.rules.action_complete

import data.kubernaut.checks.lib

actions := object.keys(lib.params.catalogue.actions)

role_actions := {lib.action_of(d) | some d in lib.action_roles}

policy_maps := {d |
	some d in lib.docs
	d.kind == "ConfigMap"
	lib.component(d) == "policy"
}

tasks := {lib.name(d) | some d in lib.docs; d.kind == "Task"}

violation contains lib.missing("ClusterRole", sprintf("<release>-action-%s", [a]), sprintf("action %q has no ClusterRole labelled %s", [a, lib.action_label])) if {
	some a in actions
	not a in role_actions
}

violation contains lib.missing("ConfigMap", "<release>-policies", "no policy ConfigMap (labelled app.kubernetes.io/component: policy)") if {
	count(policy_maps) == 0
}

violation contains lib.violation(d, sprintf("no key %s.rego: action %q has no policy", [a, a])) if {
	some d in policy_maps
	some a in actions
	object.get(d, ["data", concat("", [a, ".rego"])], null) == null
}

# Tasks are optional (Jobs only), but when there are any every action has one.
violation contains lib.missing("Task", concat("", [lib.params.taskPrefix, a]), sprintf("action %q has no Task", [a])) if {
	count(tasks) > 0
	some a in actions
	not concat("", [lib.params.taskPrefix, a]) in tasks
}
