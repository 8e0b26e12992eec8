# METADATA
# title: Shared helpers of the per-action policies
# description: The target's environment and labels, typed parameter values.
package kubernaut.lib

production if input.target.environment == "production"

# Digits only: no sign, exponent or fraction (so -1 and 1e9 never pass as numbers).
integer_shape := `^(0|[1-9][0-9]{0,15})$`

# A parameter as a number; undefined unless it has the integer shape (the gate refuses it then).
number(name) := to_number(value) if {
	value := input.parameters[name]
	regex.match(integer_shape, value)
}

# Label keys that name what a workload is.
name_labels := {"app", "app.kubernetes.io/name", "k8s-app", "component"}

# Workloads whose pods hold state a restart can lose: a person decides.
database_names := {"cassandra", "cockroachdb", "elasticsearch", "etcd", "mariadb", "mongodb", "mysql", "postgres", "postgresql", "redis"}

label_value(key) := lower(input.target.labels[key])

is_database if {
	some key in name_labels
	label_value(key) in database_names
}

is_database if input.target.labels["kubernaut.io/class"] == "database"

# The API server's own pods: static pods named kube-apiserver-<node>, labelled component=kube-apiserver.
is_kube_apiserver if input.target.labels.component == "kube-apiserver"

is_kube_apiserver if startswith(input.parameters.pod, "kube-apiserver")

control_plane_roles := {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}

is_control_plane_node if {
	some role in control_plane_roles
	role in object.keys(input.target.labels)
}

# A JSON string decoded, or null when it is not valid JSON.
json_or_null(s) := json.unmarshal(s) if json.is_valid(s)

else := null
