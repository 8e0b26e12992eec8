# METADATA
# title: delete-pod
# description: Deleting a pod with a grace period.
# schemas:
#   - input: schema.delete_pod
package kubernaut.actions.delete_pod

import data.kubernaut.lib

# Deleting the API server cuts every controller off, this one included.
deny contains "refusing to delete a kube-apiserver pod" if lib.is_kube_apiserver

# Database pods can lose in-flight transactions or trigger a failover: a person decides.
requires_approval contains "deleting a database pod" if lib.is_database
