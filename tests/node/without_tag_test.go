//go:build !node

// Package node is the real-node layer. Built without the node tag, as `go test ./...` builds it, it
// only says how to run it.
package node

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(*testing.M) {
	fmt.Println("tests/node: the real-node layer (a kubelet, containerd, CoreDNS, kube-router and Tekton in a network namespace " +
		"it creates) is built with the node tag: run `make e2e-node` as root (it runs `make node-deps`, the Debian packages, " +
		"and `make node-tools`, the binaries and offline images), or after those `go test -tags node ./tests/node`; " +
		"`make test` runs it with every other layer")
	os.Exit(0)
}
