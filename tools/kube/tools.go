//go:build tools

// Package kube pins the control plane the real-cluster tests start: etcd, kube-apiserver,
// kube-controller-manager and kubectl, all from the Kubernetes release the product's go.mod uses. A
// module of its own keeps k8s.io/kubernetes (and its replace list) out of the product's go.mod. The builds
// stamp the version go.mod requires into the binaries, as the release build does.
package kube

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"

	// The real-node layer (tests/node) runs these too.
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
