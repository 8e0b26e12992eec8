//go:build tools

// Package lint pins the linters `make lint` runs, apart from the other tools so that their
// dependencies never move the OPA or Kubernetes builds.
package lint

import _ "honnef.co/go/tools/cmd/staticcheck"
