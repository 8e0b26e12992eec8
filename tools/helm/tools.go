//go:build tools

// The helm command (helm.sh/helm/v3), at the version of the Helm SDK the product pins: `make package`
// packages and signs the chart with it, and the tests push, verify and pull the archive with it.
// A module of its own, so that the command's plugin and docs dependencies stay out of the product's.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
