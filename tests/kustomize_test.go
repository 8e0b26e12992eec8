package tests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var overlays = []string{"development", "production", "openshift"}

// build runs `kustomize build dir` in-process and returns its documents.
func build(t *testing.T, dir string) []manifest.Document {
	t.Helper()
	out, err := testenv.KustomizeBuild(dir)
	require.NoError(t, err)
	docs, err := manifest.Read(dir, bytes.NewReader(out))
	require.NoError(t, err)
	return docs
}

func overlayDir(name string) string { return filepath.Join(root, "kustomize", "overlays", name) }

func baseValues(t *testing.T) map[string]any {
	return readValues(t, filepath.Join(root, generate.BaseValuesFile))
}

// The base is the Helm default render, object for object (by construction, and this proves it).
func TestKustomizeBaseEqualsHelmDefaultRender(t *testing.T) {
	docs, err := renderWith(t, render.NewestKubernetes, baseValues(t))
	require.NoError(t, err)
	requireSameObjects(t, objects(t, docs), objects(t, build(t, filepath.Join(root, generate.BaseDir))))
}

// The base owns its namespace, enforcing the restricted Pod Security Standard; the Helm default render
// does not (helm install needs the namespace first, and the chart checks its label then).
func TestKustomizeBaseOwnsARestrictedNamespace(t *testing.T) {
	ns, ok := objects(t, build(t, filepath.Join(root, generate.BaseDir)))["Namespace//"+render.DefaultNamespace]
	require.True(t, ok, "the base renders the release Namespace")
	require.Equal(t, "restricted", get(ns, "metadata", "labels", "pod-security.kubernetes.io/enforce"))
	for key := range objects(t, defaultRender(t)) {
		require.NotEqual(t, "Namespace//"+render.DefaultNamespace, key)
	}
}

// OpenShift through Helm values and through the overlay gives the same objects.
func TestOpenShiftOverlayEqualsHelmOpenShiftValues(t *testing.T) {
	vals := readValues(t, filepath.Join(chartDir, "ci", "openshift-values.yaml"))
	vals["releaseNamespace"] = map[string]any{"create": true} // as the base, which owns its Namespace
	docs, err := renderWith(t, render.NewestKubernetes, vals)
	require.NoError(t, err)
	requireSameObjects(t, objects(t, docs), objects(t, build(t, overlayDir("openshift"))))
}

func TestOverlays(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(root, "kustomize", "overlays"))
	require.NoError(t, err)
	require.Len(t, entries, len(overlays), "every overlay is tested")
	for _, name := range overlays {
		t.Run(name, func(t *testing.T) {
			docs := build(t, overlayDir(name))
			objs := objects(t, docs)
			requireCommon(t, objs)
			requirePoliciesSelectTheirPods(t, objs)
			require.NotContains(t, string(manifest.Join(docs)), "192.0.2.1", "the overlay must set its API-server addresses")
			for _, np := range networkPolicies(t, objs) {
				// The api-server.yaml patch replaced the API-server rule, not another one.
				for _, peer := range get(np, "spec", "egress", 0, "to").([]any) {
					require.NotEmpty(t, get(peer, "ipBlock", "cidr"))
					require.Nil(t, get(peer, "namespaceSelector"))
				}
				require.NotNil(t, get(np, "spec", "egress", 1, "to", 0, "namespaceSelector"), "DNS rule stays second")
			}
			switch name {
			case "development":
				args := get(objs["Deployment/kubernaut-system/kubernaut-execution-controller"], "spec", "template", "spec", "containers", 0, "args")
				require.Contains(t, args, "--log-level=debug")
			case "production":
				for _, img := range images(objs) {
					require.Regexp(t, `@sha256:[0-9a-f]{64}$`, img, "production pins images by digest")
				}
				require.EqualValues(t, 2, get(objs["Deployment/kubernaut-system/kubernaut-execution-controller"], "spec", "replicas"))
			case "openshift":
				requireRunAsUser(t, objs, nil)
				for _, np := range networkPolicies(t, objs) {
					require.EqualValues(t, 5353, get(np, "spec", "egress", 1, "ports", 1, "port"))
					require.Equal(t, "TCP", get(np, "spec", "egress", 1, "ports", 1, "protocol"))
				}
			}
		})
	}
}

// The standalone NetworkPolicies are the base's, byte for byte after their extra note.
func TestStandaloneNetworkPoliciesMatchBase(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, generate.NetworkPolicies, "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	for _, f := range files {
		np, err := os.ReadFile(f)
		require.NoError(t, err)
		base, err := os.ReadFile(filepath.Join(root, generate.BaseDir, filepath.Base(f)))
		require.NoError(t, err)
		body := func(b []byte) string { return string(b[strings.Index(string(b), "apiVersion:"):]) }
		require.Equal(t, body(base), body(np))
	}
}

// The high-availability component is what `--set controller.replicas=2` adds to the Helm render, object
// for object. The generator renders only the templates it lists as depending on the replica count: a
// template that starts to depend on it, unlisted, fails here.
func TestHighAvailabilityComponentEqualsHelmReplicas(t *testing.T) {
	vals := baseValues(t)
	controller, _ := vals["controller"].(map[string]any)
	if controller == nil {
		controller = map[string]any{}
	}
	controller["replicas"] = 2
	vals["controller"] = controller
	docs, err := renderWith(t, render.NewestKubernetes, vals)
	require.NoError(t, err)
	requireSameObjects(t, objects(t, docs), objects(t, build(t, withComponent(t, generate.HADir))))

	// Negative control: without the component the two differ (two replicas and the PodDisruptionBudget).
	base := objects(t, build(t, filepath.Join(root, generate.BaseDir)))
	require.NotContains(t, base, "PodDisruptionBudget/kubernaut-system/kubernaut-execution-controller")
	require.NotEqual(t, objects(t, docs)["Deployment/kubernaut-system/kubernaut-execution-controller"], base["Deployment/kubernaut-system/kubernaut-execution-controller"])
}

// withComponent writes a kustomization in a temporary directory that adds the component (a directory
// relative to the repository root) to the base, and returns the directory.
func withComponent(t *testing.T, component string) string {
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, p)
		require.NoError(t, err)
		return r
	}
	abs, err := filepath.Abs(root)
	require.NoError(t, err)
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + rel(filepath.Join(abs, generate.BaseDir)) +
		"\ncomponents:\n  - " + rel(filepath.Join(abs, component)) + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644))
	return dir
}
