// Package testenv holds what the test packages share about the repository they run in.
package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
	"helm.sh/helm/v3/pkg/action"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
)

// RequiredVersion is the version a go.mod file requires of a module.
func RequiredVersion(gomod, module string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	f, err := modfile.ParseLax(gomod, data, nil)
	if err != nil {
		return "", err
	}
	for _, r := range f.Require {
		if r.Mod.Path == module {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}

// Catalogue is the shipped action catalogue; a catalogue that does not load fails the test.
func Catalogue(t testing.TB) *catalogue.Catalogue {
	t.Helper()
	c, err := catalogue.Default()
	if err != nil {
		t.Fatalf("catalogue: %v", err)
	}
	return c
}

// Action is one action of the shipped catalogue, by name; an unknown name fails the test.
func Action(t testing.TB, name string) catalogue.Action {
	t.Helper()
	a, ok := Catalogue(t).Action(name)
	if !ok {
		t.Fatalf("the catalogue has no action %s", name)
	}
	return a
}

// Must(call).In(t) is call's value; call's error fails t.
func Must[T any](v T, err error) Result[T] { return Result[T]{v, err} }

// Result is a call's value and error, for Must.
type Result[T any] struct {
	v   T
	err error
}

// In is the value, failing t on the error.
func (r Result[T]) In(t testing.TB) T {
	t.Helper()
	require.NoError(t, r.err)
	return r.v
}

// WaitFor polls probe until it returns nil, the timeout passes (the last error is returned), or ctx
// ends: a bounded wait for a positive signal.
func WaitFor(ctx context.Context, timeout time.Duration, probe func() error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = probe()
		return last == nil, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return fmt.Errorf("not ready after %s: %w", timeout, last)
	}
}

// WriteKubeconfig writes file (mode 0600) as a kubeconfig for the test's own API server at server,
// authenticating with token; name names its cluster, user and context. The server's certificate is
// self-signed, so it is not verified.
func WriteKubeconfig(file, name, server, token string) error {
	config := clientcmdapi.NewConfig()
	config.Clusters[name] = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	config.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	config.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	config.CurrentContext = name
	return clientcmd.WriteToFile(*config, file)
}

// insecure talks to the test's own API server and components, whose certificates are self-signed.
var insecure = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// HTTPOK requires a 200 answer to GET url (with a bearer token when given) whose body contains want.
func HTTPOK(url, token, want string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := insecure.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, body)
	}
	return nil
}

// HelmConfiguration is a Helm SDK configuration against the cluster of kubeconfig, for namespace ns,
// with releases stored in Secrets (Helm's default).
func HelmConfiguration(kubeconfig, ns string) (*action.Configuration, error) {
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	return cfg, nil
}

// Tool is a pinned tool the Makefile builds into the cache's bin directory (`make tools`), checked to
// be the version its tool module requires: running versionArgs must print that version. The tests
// never build tools themselves, so the build flags live in the Makefile only, and a binary left from
// an older pin is refused instead of silently run.
func Tool(cacheDir, name, gomod, module string, versionArgs ...string) (string, error) {
	version, err := RequiredVersion(gomod, module)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cacheDir, "bin", name)
	out, err := exec.Command(bin, versionArgs...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %w; run `make tools`", bin, err)
	}
	if !strings.Contains(string(out), strings.TrimPrefix(version, "v")) {
		return "", fmt.Errorf("%s is not %s %s (it printed %q); run `make tools`", bin, module, version, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

// ServiceAccountAllowed asks the API server's own authorizer (a SubjectAccessReview) whether a
// ServiceAccount, with the groups its token carries, may do what attrs describe.
func ServiceAccountAllowed(ctx context.Context, client kubernetes.Interface, namespace, name string, attrs authorizationv1.ResourceAttributes) (bool, error) {
	review, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               serviceaccount.MakeUsername(namespace, name),
		Groups:             append(serviceaccount.MakeGroupNames(namespace), user.AllAuthenticated),
		ResourceAttributes: &attrs,
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return review.Status.Allowed, nil
}

// FirstOf is the first verb, API group and resource of rule ("pods/eviction" split into resource and
// subresource), in namespace ("" cluster-wide): what a test asks to see that a binding of it took.
func FirstOf(rule rbacv1.PolicyRule, namespace string) authorizationv1.ResourceAttributes {
	resource, subresource, _ := strings.Cut(rule.Resources[0], "/")
	return authorizationv1.ResourceAttributes{Namespace: namespace, Verb: rule.Verbs[0], Group: rule.APIGroups[0], Resource: resource, Subresource: subresource}
}

// AwaitServiceAccountAllowed waits until the authorizer, which reads RBAC through informers, grants
// what attrs describe.
func AwaitServiceAccountAllowed(ctx context.Context, client kubernetes.Interface, namespace, name string, attrs authorizationv1.ResourceAttributes) error {
	return WaitFor(ctx, 30*time.Second, func() error {
		ok, err := ServiceAccountAllowed(ctx, client, namespace, name, attrs)
		if err == nil && !ok {
			err = fmt.Errorf("%s/%s may not %s %s yet", namespace, name, attrs.Verb, attrs.Resource)
		}
		return err
	})
}

// KustomizeBuild runs `kustomize build dir` in-process, with the pinned kustomize api, and returns its
// YAML stream.
func KustomizeBuild(dir string) ([]byte, error) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return resources.AsYaml()
}

// AwaitAdmissionPolicies waits until every probe, a dry-run request that the chart's admission policies
// must refuse, is refused by a ValidatingAdmissionPolicy: the API server loads policies asynchronously.
func AwaitAdmissionPolicies(ctx context.Context, timeout time.Duration, probes map[string]func(context.Context) error) error {
	for name, probe := range probes {
		if err := WaitFor(ctx, timeout, func() error {
			err := probe(ctx)
			if err != nil && strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
				return nil
			}
			return fmt.Errorf("admission policy %s not enforced yet (%v)", name, err)
		}); err != nil {
			return err
		}
	}
	return nil
}

// ServerSideApply applies docs as field manager manager with server-side apply, forcing conflicts
// (`kubectl apply --server-side --force-conflicts`), through dyn, with mapper resolving kinds; a kind
// the mapper does not know yet (a CRD applied just before) is rediscovered once. With dryRun "All"
// nothing changes. It returns what the API server made of each document.
func ServerSideApply(ctx context.Context, dyn dynamic.Interface, mapper meta.ResettableRESTMapper, manager string, docs []manifest.Document, dryRun ...string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, d := range docs {
		gvk := schema.FromAPIVersionAndKind(d.APIVersion(), d.Kind())
		mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			mapper.Reset()
			if mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
				return nil, fmt.Errorf("%s %s: %w", d.Kind(), d.Name(), err)
			}
		}
		data, err := yaml.YAMLToJSON(d.YAML)
		if err != nil {
			return nil, err
		}
		var target dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
		if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
			target = dyn.Resource(mapping.Resource).Namespace(d.Namespace())
		}
		got, err := target.Patch(ctx, d.Name(), types.ApplyPatchType, data, metav1.PatchOptions{FieldManager: manager, Force: ptr.To(true), DryRun: dryRun})
		if err != nil {
			return nil, fmt.Errorf("apply %s %s/%s: %w", d.Kind(), d.Namespace(), d.Name(), err)
		}
		out = append(out, got)
	}
	return out, nil
}
