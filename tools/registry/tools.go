//go:build tools

// The CNCF Distribution registry (github.com/distribution/distribution), the reference OCI registry:
// the tests start it on loopback, push the packaged chart to it and install the chart from
// oci://127.0.0.1:PORT as users install it from a public registry. A module of its own, so that its
// dependencies never meet the product's.
package tools

import _ "github.com/distribution/distribution/v3/cmd/registry"
