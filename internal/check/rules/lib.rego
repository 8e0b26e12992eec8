# METADATA
# title: Shared helpers of the conformance rules
# description: >-
#   Views over input.documents (every document of the render, checked together so that rules can relate
#   objects), and data.kubernaut.params: the forbidden grants and the catalogue, given by kubernaut-execution check.
package kubernaut.checks.lib

docs := input.documents

params := data.kubernaut.params

labels(d) := object.get(d, ["metadata", "labels"], {})

name(d) := object.get(d, ["metadata", "name"], "")

# What a violation names: the object's kind, namespace and name.
ref(d) := {"kind": object.get(d, "kind", ""), "namespace": object.get(d, ["metadata", "namespace"], ""), "name": name(d)}

violation(d, msg) := object.union(ref(d), {"message": msg})

# A violation about an object that should exist and does not.
missing(kind, n, msg) := {"kind": kind, "namespace": "", "name": n, "message": msg}

component(d) := object.get(labels(d), "app.kubernetes.io/component", "")

# The label that names a ClusterRole's action: the execution contract's key, given by kubernaut-execution check.
action_label := params.actionLabel

action_of(d) := labels(d)[action_label]

roles contains d if {
	some d in docs
	d.kind in {"Role", "ClusterRole"}
}

controller_roles contains d if {
	some d in roles
	component(d) == "controller"
}

controller_cluster_roles contains d if {
	some d in controller_roles
	d.kind == "ClusterRole"
}

# The per-action ClusterRoles, by the label the chart gives them.
action_roles contains d if {
	some d in roles
	d.kind == "ClusterRole"
	action_of(d)
}

qualified(resource, "") := resource

qualified(resource, group) := concat(".", [resource, group]) if group != ""

# Every (group, resource, verb) a rule list grants.
triples(rules) := {[g, r, v] |
	some rule in rules
	some g in object.get(rule, "apiGroups", [])
	some r in object.get(rule, "resources", [])
	some v in object.get(rule, "verbs", [])
}

# Every pod the render makes ({"doc", "spec", "labels"}), from input.pods: the checker extracts them in
# Go with Kubernetes' types and, for a Task, Tekton's own step merge (internal/check podsOf), so the rules
# see a Task's steps as the containers of its TaskRun pods, and Tekton copies the Task's labels onto them.
pod_specs contains p if some p in input.pods

# Every container of the render.
containers contains {"doc": p.doc, "container": c} if {
	some p in pod_specs
	some field in ["containers", "initContainers", "ephemeralContainers"]
	some c in object.get(p.spec, field, [])
}

network_policies contains d if {
	some d in docs
	d.kind == "NetworkPolicy"
}

# matchLabels selection: every label of the selector is on the pod (an empty selector selects all).
selects(np, pod_labels) if {
	every k, v in object.get(np.spec.podSelector, "matchLabels", {}) {
		pod_labels[k] == v
	}
	count(object.get(np.spec.podSelector, "matchExpressions", [])) == 0
}

# The action pods (Job template and Tasks), whose policy the action rules hold to more.
action_pods contains p if {
	some p in pod_specs
	object.get(p.labels, "app.kubernetes.io/component", "") == "action"
}

action_policies contains np if {
	some np in network_policies
	some p in action_pods
	selects(np, p.labels)
}

peers(rule) := array.concat(object.get(rule, "to", []), object.get(rule, "from", []))

# A rule that means DNS: some port over UDP. dns-udp-tcp checks it also allows TCP.
dns_like(rule) if {
	some p in object.get(rule, "ports", [])
	object.get(p, "protocol", "TCP") == "UDP"
}

# A DNS rule, and nothing else: every peer is DNS pods (one namespace by its name label, pods by a
# non-empty selector), and the ports are one port over UDP and TCP. A UDP port alone proves nothing:
# a rule to every pod on UDP 53 and TCP 8080 is not DNS.
is_dns(rule) if {
	count(peers(rule)) > 0
	every peer in peers(rule) {
		dns_peer(peer)
	}
	ports := object.get(rule, "ports", [])
	count(ports) == 2
	{object.get(p, "protocol", "TCP") | some p in ports} == {"UDP", "TCP"}
	count({p.port | some p in ports}) == 1
}

dns_peer(peer) if {
	names := object.get(peer, ["namespaceSelector", "matchLabels"], {})
	object.keys(names) == {"kubernetes.io/metadata.name"}
	count(object.get(peer, ["namespaceSelector", "matchExpressions"], [])) == 0
	count(object.get(peer, ["podSelector", "matchLabels"], {})) > 0
	not peer.ipBlock
}

# The release namespace: where the controller's ServiceAccount lives.
release_namespaces contains object.get(d, ["metadata", "namespace"], "") if {
	some d in docs
	d.kind == "ServiceAccount"
	component(d) == "controller"
}

# The controller's ValidatingAdmissionPolicies, by the chart's component label.
controller_admission_policies contains d if {
	some d in docs
	d.kind == "ValidatingAdmissionPolicy"
	component(d) == "controller"
}
