//go:build tools

// kube-score (github.com/zegl/kube-score), pinned in this module's go.mod and go.sum: the render
// layer runs it on the chart's default render and on the production overlay (tests/kubescore_test.go).
// A module of its own, so that its Kubernetes libraries never meet the product's.
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
