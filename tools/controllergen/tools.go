//go:build tools

// Package controllergen pins controller-gen, which writes the API's DeepCopy methods
// (api/v1alpha1/zz_generated.deepcopy.go).
package controllergen

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
