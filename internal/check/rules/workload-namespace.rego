# METADATA
# title: workload-namespace
# description: >-
#   The controller creates workloads (Pods, Jobs, TaskRuns, PipelineRuns, ...) only in the release
#   namespace. A pod may run as any ServiceAccount of its namespace, so a workload verb anywhere else is
#   privilege escalation (Kubernetes "RBAC good practices", workload creation).
package kubernaut.checks.rules.workload_namespace

import data.kubernaut.checks.lib

workload_resources := {
	"pods", "jobs", "cronjobs", "deployments", "replicasets", "statefulsets", "daemonsets",
	"replicationcontrollers", "taskruns", "pipelineruns", "*",
}

workload_verbs := {"create", "update", "patch", "*"}

workload_grants(d) := {sprintf("%s %s", [verb, resource]) |
	some [_, resource, verb] in lib.triples(object.get(d, "rules", []))
	resource in workload_resources
	verb in workload_verbs
}

violation contains lib.violation(d, sprintf("grants %v cluster-wide: the controller may create workloads only in the release namespace", [sort(grants)])) if {
	some d in lib.controller_cluster_roles
	grants := workload_grants(d)
	count(grants) > 0
}

violation contains lib.violation(d, sprintf("grants %v outside the release namespace %v", [sort(grants), lib.release_namespaces])) if {
	some d in lib.controller_roles
	d.kind == "Role"
	not object.get(d, ["metadata", "namespace"], "") in lib.release_namespaces
	grants := workload_grants(d)
	count(grants) > 0
}
