//go:build tools

// The Tekton Pipelines commands the node layer runs, built from this module so that their versions are
// pinned in go.mod and go.sum. `go install <pkg>@<version>` cannot build them here: it loads the
// module's deprecation from the proxy's version list, which the proxy refuses for this module (403).
package tools

import (
	_ "github.com/tektoncd/pipeline/cmd/controller"
	_ "github.com/tektoncd/pipeline/cmd/entrypoint"
	_ "github.com/tektoncd/pipeline/cmd/nop"
	_ "github.com/tektoncd/pipeline/cmd/sidecarlogresults"
	_ "github.com/tektoncd/pipeline/cmd/workingdirinit"
)
