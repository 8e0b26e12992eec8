//go:build e2e

package e2e

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedrbacv1 "k8s.io/client-go/kubernetes/typed/rbac/v1"
)

type rbacv1Client = typedrbacv1.RbacV1Interface

type flakyRBAC struct {
	typedrbacv1.RbacV1Interface
	f *flakyClient
}

func (r flakyRBAC) RoleBindings(ns string) typedrbacv1.RoleBindingInterface {
	return flakyRoleBindings{r.RbacV1Interface.RoleBindings(ns), r.f}
}

type flakyRoleBindings struct {
	typedrbacv1.RoleBindingInterface
	f *flakyClient
}

func (b flakyRoleBindings) Create(ctx context.Context, rb *rbacv1.RoleBinding, o metav1.CreateOptions) (*rbacv1.RoleBinding, error) {
	b.f.mu.Lock()
	fail := b.f.failures > 0
	if fail {
		b.f.failures--
	}
	b.f.mu.Unlock()
	if fail {
		return nil, apierrors.NewServiceUnavailable("injected")
	}
	return b.RoleBindingInterface.Create(ctx, rb, o)
}
