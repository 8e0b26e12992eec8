//go:build tools

// Package tools pins the command-line tools the tests build and run: they are test inputs, not part of
// the product, so they live in this module and never in the product's go.mod. `make tools` builds them
// into the gitignored cache.
package tools

import (
	_ "github.com/open-policy-agent/opa/cmd"
)
