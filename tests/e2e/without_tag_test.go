//go:build !e2e

// Package e2e is the real-cluster layer. Built without the e2e tag, as `go test ./...` builds it, it
// only says how to run it.
package e2e

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(*testing.M) {
	fmt.Println("tests/e2e: the real-cluster layer (etcd, kube-apiserver and kube-controller-manager built from tools/kube, " +
		"started on loopback) is built with the e2e tag: run `make e2e`, or `make tools` (the pinned binaries into .cache/bin, " +
		"about ten minutes the first time) then `go test -tags e2e ./tests/e2e`; `make test` runs it with every other layer")
	os.Exit(0)
}
