package main

import (
	"context"
	"fmt"
	"io"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
)

const testReleaseExamples = `  # what the chart's helm test runs, as the controller's ServiceAccount, the contract mounted
  ` + name + ` test-release --contract /etc/kubernaut/contract
  # the same from outside the cluster, as whoever the kubeconfig names
  ` + name + ` test-release --contract ./contract --kubeconfig controller.kubeconfig
`

// accessCheck is one question to the API server's authorizer about the caller, and the answer a
// controller of this bundle must get.
type accessCheck struct {
	attrs authorizationv1.ResourceAttributes
	want  bool
	why   string
}

// controllerAccess is what the controller's identity must and must not be allowed: it binds every
// action's ClusterRole, and holds nothing a stolen token could turn into more (DESIGN.md, security model 1).
func controllerAccess(c *execution.Contract, cat *catalogue.Catalogue) []accessCheck {
	var checks []accessCheck
	for _, a := range cat.Actions {
		checks = append(checks, accessCheck{
			attrs: authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: c.ActionClusterRolePrefix + a.Name},
			want:  true, why: "binds action " + a.Name + "'s role to its runs",
		})
	}
	never := func(attrs authorizationv1.ResourceAttributes, why string) {
		checks = append(checks, accessCheck{attrs: attrs, why: why})
	}
	never(authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: c.Namespace}, "reads no credentials in its namespace")
	never(authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets"}, "reads no credentials in any namespace")
	never(authorizationv1.ResourceAttributes{Verb: "list", Resource: "secrets"}, "lists no credentials anywhere")
	never(authorizationv1.ResourceAttributes{Verb: "bind", Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Name: "cluster-admin"}, "binds no role but the action roles")
	never(authorizationv1.ResourceAttributes{Verb: "escalate", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, "cannot write rules it does not hold")
	never(authorizationv1.ResourceAttributes{Verb: "impersonate", Resource: "serviceaccounts"}, "cannot act as another identity")
	never(authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: c.Namespace}, "runs no code in other pods")
	never(authorizationv1.ResourceAttributes{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: c.Namespace}, "mints no tokens")
	return checks
}

// runTestRelease checks, as the identity it runs with, that a release gives the controller what the
// contract promises: through SelfSubjectAccessReviews, so the answers are the API server's own.
func runTestRelease(args []string, stdout, stderr io.Writer) int {
	fs := flags("test-release", "test-release [--contract DIR] [--kubeconfig FILE]", testReleaseExamples, stderr)
	contractDir := fs.String("contract", "/etc/kubernaut/contract", "the release's execution-contract ConfigMap, mounted as a directory")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to use (default: the pod's in-cluster ServiceAccount)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if status, done := parse(fs, args); done {
		return status
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s test-release: %v\n", name, err)
		return exitError
	}
	c, err := execution.LoadDir(*contractDir)
	if err != nil {
		return fail(err)
	}
	cat, err := catalogue.Default()
	if err != nil {
		return fail(err)
	}
	digest, err := execution.CatalogueDigest(cat)
	if err != nil {
		return fail(err)
	}
	if digest != c.CatalogueSHA256 {
		return fail(fmt.Errorf("the release was generated from another catalogue (%s) than this binary's (%s): use the image of the release's version", c.CatalogueSHA256, digest))
	}
	var config *rest.Config
	if *kubeconfig != "" {
		config, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		config, err = rest.InClusterConfig()
	}
	if err != nil {
		return fail(err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	failed := 0
	for _, check := range controllerAccess(c, cat) {
		review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &check.attrs}}, metav1.CreateOptions{})
		if err != nil {
			return fail(fmt.Errorf("SelfSubjectAccessReview: %w", err))
		}
		verdict := "ok  "
		if review.Status.Allowed != check.want {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(stdout, "%s %s %s: allowed=%t (%s)\n", verdict, check.attrs.Verb, describe(check.attrs), review.Status.Allowed, check.why)
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d check(s) failed: the release does not give the controller what its contract promises\n", failed)
		return exitViolations
	}
	fmt.Fprintf(stdout, "release %s in %s: the controller's access is as promised\n", c.Release, c.Namespace)
	return exitOK
}

func describe(a authorizationv1.ResourceAttributes) string {
	s := a.Resource
	if a.Subresource != "" {
		s += "/" + a.Subresource
	}
	if a.Group != "" {
		s += "." + a.Group
	}
	if a.Name != "" {
		s += " " + a.Name
	}
	if a.Namespace != "" {
		return s + " in " + a.Namespace
	}
	return s + " cluster-wide"
}
