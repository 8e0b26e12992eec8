// Package v1alpha1 is the execution.kubernaut.io/v1alpha1 API: ActionRun, a request to run one catalogue
// action on one target, and ActionApproval, a person's approval of one exact ActionRun.
//
// The Go types are the API's shape; the CustomResourceDefinitions are generated from the catalogue
// (internal/crd), because an ActionRun's parameters are typed per action. Admission, not the
// controller, makes the recorded requester and approver truthful (templates/api-admission-policy.yaml).
//
// +kubebuilder:object:generate=true
// +groupName=execution.kubernaut.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of the API.
const (
	Group   = "execution.kubernaut.io"
	Version = "v1alpha1"
)

var (
	// GroupVersion is the API's group and version.
	GroupVersion = schema.GroupVersion{Group: Group, Version: Version}
	// SchemeBuilder registers the API's types.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ActionRun{}, &ActionRunList{}, &ActionApproval{}, &ActionApprovalList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
