package tests

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var kubeVersions = []string{render.OldestKubernetes, render.NewestKubernetes}

// matrix is the values matrix: the chart-testing files in the chart's ci/ folder, each with what its
// render must show.
var matrix = map[string]func(t *testing.T, objs map[string]object){
	"default-values.yaml": func(t *testing.T, objs map[string]object) {
		requireEphemeral(t, objs)
		requireAPIServerCIDRs(t, objs, "10.96.0.1/32", "172.18.0.2/32")
		requireRunAsUser(t, objs, float64(65532))
		for key := range objs {
			require.False(t, strings.HasPrefix(key, "PodDisruptionBudget/") || strings.HasPrefix(key, "ServiceMonitor/"), "one replica, no ServiceMonitor by default: %s", key)
		}
	},
	"static-values.yaml": func(t *testing.T, objs map[string]object) {
		cat := testenv.Catalogue(t)
		for _, a := range cat.Actions {
			name := "kubernaut-execution-action-" + a.Name
			require.Contains(t, objs, "ServiceAccount/kubernaut-system/"+name)
			if a.Scope == catalogue.Cluster {
				crb := objs["ClusterRoleBinding//"+name]
				require.NotNil(t, crb, name)
				require.Equal(t, name, get(crb, "roleRef", "name"))
				continue
			}
			for _, ns := range []string{"team-a", "team-b"} {
				rb := objs["RoleBinding/"+ns+"/"+name]
				require.NotNil(t, rb, "%s in %s", name, ns)
				require.Equal(t, "ClusterRole", get(rb, "roleRef", "kind"))
				require.Equal(t, name, get(rb, "roleRef", "name"))
				require.Equal(t, "kubernaut-system", get(rb, "subjects", 0, "namespace"))
			}
		}
	},
	"openshift-values.yaml": func(t *testing.T, objs map[string]object) {
		requireRunAsUser(t, objs, nil)
		for _, np := range networkPolicies(t, objs) {
			require.Equal(t, "openshift-dns", get(np, "spec", "egress", 1, "to", 0, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"))
			require.EqualValues(t, 5353, get(np, "spec", "egress", 1, "ports", 0, "port"))
		}
	},
	"custom-cidrs-values.yaml": func(t *testing.T, objs map[string]object) {
		requireAPIServerCIDRs(t, objs, "10.43.0.1/32", "192.168.10.5/32", "fd00:10:96::1/128")
		ctrl := objs["NetworkPolicy/kubernaut-system/kubernaut-execution-controller"]
		require.Empty(t, get(ctrl, "spec", "ingress"), "no metrics namespace: no ingress")
		require.Len(t, get(ctrl, "spec", "egress"), 2, "data storage egress is off")
	},
	"tekton-off-values.yaml": func(t *testing.T, objs map[string]object) {
		for key := range objs {
			require.False(t, strings.HasPrefix(key, "Task/"), "Tekton is off but %s is rendered", key)
		}
		require.Contains(t, objs, "ConfigMap/kubernaut-system/kubernaut-execution-policies", "Jobs use the policies too")
	},
	"networkpolicy-off-values.yaml": func(t *testing.T, objs map[string]object) {
		require.Empty(t, networkPoliciesOf(objs))
	},
	"operations-values.yaml": func(t *testing.T, objs map[string]object) {
		for key, o := range objs {
			require.Equal(t, "platform", get(o, "metadata", "labels", "team"), "commonLabels on %s", key)
			require.Equal(t, "platform@example.com", get(o, "metadata", "annotations", "owner"), "commonAnnotations on %s", key)
		}
		deployment := objs["Deployment/kubernaut-system/kubernaut-execution-controller"]
		pod := get(deployment, "spec", "template", "spec")
		require.Equal(t, []any{map[string]any{"name": "registry-credentials"}}, get(pod, "imagePullSecrets"))
		require.Equal(t, "system-cluster-critical", get(pod, "priorityClassName"))
		selector := get(deployment, "spec", "selector", "matchLabels")
		require.Equal(t, selector, get(pod, "topologySpreadConstraints", 0, "labelSelector", "matchLabels"), "a constraint without selector spreads the controller's own pods")
		pdb := objs["PodDisruptionBudget/kubernaut-system/kubernaut-execution-controller"]
		require.EqualValues(t, 1, get(pdb, "spec", "minAvailable"))
		require.Equal(t, selector, get(pdb, "spec", "selector", "matchLabels"))
		monitor := objs["ServiceMonitor/kubernaut-system/kubernaut-execution-controller"]
		require.Equal(t, "prometheus", get(monitor, "metadata", "labels", "release"))
		require.Equal(t, "metrics", get(monitor, "spec", "endpoints", 0, "port"))
		service := objs["Service/kubernaut-system/kubernaut-execution-controller-metrics"]
		for k, v := range get(monitor, "spec", "selector", "matchLabels").(map[string]any) {
			require.Equal(t, v, get(service, "metadata", "labels", k), "the ServiceMonitor selects the metrics Service")
		}
		require.Equal(t, []any{map[string]any{"name": "registry-credentials"}}, get(objs["ServiceAccount/kubernaut-system/kubernaut-execution-action-drain-node"], "imagePullSecrets"))
		require.Contains(t, get(objs["ConfigMap/kubernaut-system/kubernaut-execution-execution-contract"], "data", "contract.yaml"), "imagePullSecrets:\n- name: registry-credentials")
	},
	"digest-values.yaml": func(t *testing.T, objs map[string]object) {
		want := 1 + 4 // controller; the action Job (two gates, dry-run, execute)
		for _, a := range testenv.Catalogue(t).Actions {
			want += 3 // two gates and execute
			if a.DryRun.Supported {
				want++
			}
		}
		require.Len(t, images(objs), want, "every container and Task step image is in the list checked below")
		for _, img := range images(objs) {
			require.Regexp(t, `@sha256:[0-9a-f]{64}$`, img)
			require.NotContains(t, img, ":v", "digest wins over the tag")
		}
	},
}

func TestValuesMatrix(t *testing.T) {
	forEachMatrixRender(t, func(t *testing.T, file, _ string, docs []manifest.Document) {
		check, ok := matrix[file]
		require.True(t, ok, "no assertions for %s", file)
		objs := objects(t, docs)
		requireCommon(t, objs)
		if file != "networkpolicy-off-values.yaml" { // which requires that none is rendered
			requirePoliciesSelectTheirPods(t, objs)
		}
		check(t, objs)
	})
}

// forEachMatrixRender renders every values file of the matrix (the chart-testing files in ci/) at the
// oldest and newest Kubernetes the chart claims, each in a subtest.
func forEachMatrixRender(t *testing.T, f func(t *testing.T, file, kubeVersion string, docs []manifest.Document)) {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.Len(t, files, len(matrix), "every ci/ values file has its assertions and vice versa")
	for _, file := range files {
		for _, kv := range kubeVersions {
			t.Run(filepath.Base(file)+"@"+kv, func(t *testing.T) {
				docs, err := renderWith(t, kv, readValues(t, file))
				require.NoError(t, err)
				f(t, filepath.Base(file), kv, docs)
			})
		}
	}
}

// requireCommon holds for every render: labels, release-prefixed names, the controller's bind list.
func requireCommon(t *testing.T, objs map[string]object) {
	cat := testenv.Catalogue(t)
	for key, o := range objs {
		labels, _ := get(o, "metadata", "labels").(map[string]any)
		for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "helm.sh/chart"} {
			require.Contains(t, labels, l, "%s lacks label %s", key, l)
		}
		// The release Namespace (releaseNamespace.create, the Kustomize base) is named for the release's
		// namespace; a CustomResourceDefinition's name is its API's (<plural>.<group>), one per cluster.
		if get(o, "metadata", "namespace") == nil && get(o, "kind") != "Namespace" && get(o, "kind") != "CustomResourceDefinition" {
			require.True(t, strings.HasPrefix(get(o, "metadata", "name").(string), render.DefaultRelease+"-"), "cluster-scoped %s is not release-prefixed", key)
		}
	}
	cr := objs["ClusterRole//kubernaut-execution-controller"]
	require.NotNil(t, cr)
	var want []any
	for _, a := range cat.Actions {
		want = append(want, "kubernaut-execution-action-"+a.Name)
		require.Contains(t, objs, "ClusterRole//kubernaut-execution-action-"+a.Name)
	}
	// Static mode binds at install time: its controller may neither bind nor make bindings.
	bind, bindings := controllerRule(cr, "bind"), controllerRule(cr, "rolebindings")
	if isStatic(objs) {
		require.Nil(t, bind, "static mode: the controller holds bind")
		require.Nil(t, bindings, "static mode: the controller may make bindings")
	} else {
		require.NotNil(t, bind, "controller has no bind rule")
		require.ElementsMatch(t, want, bind["resourceNames"])
	}
	requirePolicyHashRollsController(t, objs)
}

// The controller's pod template carries the policy ConfigMap's content hash, so a policy change rolls it.
func requirePolicyHashRollsController(t *testing.T, objs map[string]object) {
	const hash = "kubernaut.io/policy-hash"
	cm := get(objs["ConfigMap/kubernaut-system/kubernaut-execution-policies"], "metadata", "annotations", hash)
	require.Regexp(t, "^[0-9a-f]{64}$", cm)
	require.Equal(t, cm, get(objs["Deployment/kubernaut-system/kubernaut-execution-controller"], "spec", "template", "metadata", "annotations", hash))
}

// There is a NetworkPolicy for the controller and one for the action pods, and each selects the pods it
// is for, and only those: the controller policy the controller Deployment's pods, the action policy the
// pods of the Jobs the controller builds (package jobs).
func requirePoliciesSelectTheirPods(t *testing.T, objs map[string]object) {
	nps := map[string]object{}
	for _, np := range networkPoliciesOf(objs) {
		nps[get(np, "metadata", "labels", "app.kubernetes.io/component").(string)] = np
	}
	require.ElementsMatch(t, []string{"controller", "action"}, slices.Collect(maps.Keys(nps)), "NetworkPolicies by component")
	pods := map[string]map[string]any{
		"controller": get(objs["Deployment/kubernaut-system/kubernaut-execution-controller"], "spec", "template", "metadata", "labels").(map[string]any),
		"action":     get(actionJob(objs), "spec", "template", "metadata", "labels").(map[string]any),
	}
	for component, np := range nps {
		sel := labels.Set{}
		for k, v := range get(np, "spec", "podSelector", "matchLabels").(map[string]any) {
			sel[k] = v.(string)
		}
		for podComponent, podLabels := range pods {
			set := labels.Set{}
			for k, v := range podLabels {
				set[k] = v.(string)
			}
			require.Equal(t, component == podComponent, labels.SelectorFromSet(sel).Matches(set),
				"%s NetworkPolicy selecting %s pods", component, podComponent)
		}
	}
}

// controllerRule is the rule of a ClusterRole that grants verb, or names resource; nil if none does.
func controllerRule(cr object, verbOrResource string) map[string]any {
	for _, r := range get(cr, "rules").([]any) {
		if slices.Contains(get(r, "verbs").([]any), any(verbOrResource)) || slices.Contains(get(r, "resources").([]any), any(verbOrResource)) {
			return r.(map[string]any)
		}
	}
	return nil
}

func isStatic(objs map[string]object) bool {
	for key := range objs {
		if strings.HasPrefix(key, "ServiceAccount/kubernaut-system/kubernaut-execution-action-") {
			return true
		}
	}
	return false
}

func requireEphemeral(t *testing.T, objs map[string]object) {
	for key := range objs {
		require.False(t, strings.HasPrefix(key, "ServiceAccount/kubernaut-system/kubernaut-execution-action-"), "ephemeral mode pre-creates %s", key)
		require.False(t, strings.HasPrefix(key, "RoleBinding/") && !strings.HasSuffix(key, "-controller"), "ephemeral mode pre-binds %s", key)
	}
}

func requireAPIServerCIDRs(t *testing.T, objs map[string]object, cidrs ...string) {
	nps := networkPolicies(t, objs)
	for _, np := range nps {
		var got []string
		for _, peer := range get(np, "spec", "egress", 0, "to").([]any) {
			got = append(got, get(peer, "ipBlock", "cidr").(string))
		}
		require.ElementsMatch(t, cidrs, got)
	}
}

func requireRunAsUser(t *testing.T, objs map[string]object, uid any) {
	for _, spec := range podSpecs(objs) {
		require.Equal(t, uid, get(spec, "securityContext", "runAsUser"))
		require.Equal(t, uid, get(spec, "securityContext", "runAsGroup"), "the same ID as primary group")
		require.Equal(t, true, get(spec, "securityContext", "runAsNonRoot"))
	}
}

func networkPoliciesOf(objs map[string]object) []object {
	var out []object
	for key, o := range objs {
		if strings.HasPrefix(key, "NetworkPolicy/") {
			out = append(out, o)
		}
	}
	return out
}

func networkPolicies(t *testing.T, objs map[string]object) []object {
	nps := networkPoliciesOf(objs)
	require.Len(t, nps, 2)
	return nps
}

// podSpecs returns the pod specs of the controller Deployment and of an action Job built from the
// render's execution contract.
func podSpecs(objs map[string]object) []any {
	var specs []any
	for key, o := range objs {
		if strings.HasPrefix(key, "Deployment/") {
			specs = append(specs, get(o, "spec", "template", "spec"))
		}
	}
	if job := actionJob(objs); job != nil {
		specs = append(specs, get(job, "spec", "template", "spec"))
	}
	return specs
}

// images returns every image a render runs: pod (and init) containers and Task steps.
func images(objs map[string]object) []string {
	var out []string
	for _, spec := range podSpecs(objs) {
		inits, _ := get(spec, "initContainers").([]any)
		for _, c := range append(get(spec, "containers").([]any), inits...) {
			out = append(out, get(c, "image").(string))
		}
	}
	for key, o := range objs {
		if !strings.HasPrefix(key, "Task/") {
			continue
		}
		for _, step := range get(o, "spec", "steps").([]any) {
			out = append(out, get(step, "image").(string))
		}
	}
	return out
}

// Bad values files fail the render with a message naming the field.
func TestBadValuesFailNamingTheField(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad-values", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := renderWith(t, render.NewestKubernetes, readValues(t, file))
			require.Error(t, err)
			for _, w := range wants(t, file) {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

// A change to any policy changes the hash on the controller's pod template.
func TestPolicyChangeChangesTheHash(t *testing.T) {
	hash := func(ch *chart.Chart) any {
		docs, err := render.Render(ch, render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace,
			KubeVersion: render.NewestKubernetes, Values: readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml"))})
		require.NoError(t, err)
		return get(objects(t, docs)["Deployment/kubernaut-system/kubernaut-execution-controller"], "spec", "template", "metadata", "annotations", "kubernaut.io/policy-hash")
	}
	before := hash(mustChart(t))
	policy, err := os.ReadFile(filepath.Join(chartDir, "files", "policies", "drain-node.rego"))
	require.NoError(t, err)
	changed, err := render.LoadChart(chartDir, map[string][]byte{"files/policies/drain-node.rego": append(policy, "\n# changed\n"...)})
	require.NoError(t, err)
	require.NotEqual(t, before, hash(changed))
}

func TestKubeVersionRangeIsEnforced(t *testing.T) {
	vals := readValues(t, filepath.Join(chartDir, "ci", "default-values.yaml"))
	for _, kv := range []string{"v1.30.9", "v1.38.0"} {
		_, err := renderWith(t, kv, vals)
		require.ErrorContains(t, err, "incompatible with Kubernetes "+kv)
	}
}

// The newest Kubernetes the renders are checked at is the one the real-cluster layers run, and the
// client libraries the product builds against are of the same minor.
func TestNewestKubernetesIsThePinnedControlPlane(t *testing.T) {
	control, err := testenv.RequiredVersion(filepath.Join(root, "tools", "kube", "go.mod"), "k8s.io/kubernetes")
	require.NoError(t, err)
	require.Equal(t, render.NewestKubernetes, control, "internal/render.NewestKubernetes and tools/kube/go.mod")
	api, err := testenv.RequiredVersion(filepath.Join(root, "go.mod"), "k8s.io/api")
	require.NoError(t, err)
	require.Equal(t, strings.Replace(control, "v1.", "v0.", 1), api, "k8s.io/api in go.mod and tools/kube/go.mod")
}

// The chart renders Service and EndpointSlice lookups into API-server ipBlocks at install time.
func TestLookupFallbackFailsOfflineWithInstructions(t *testing.T) {
	_, err := renderWith(t, render.NewestKubernetes, nil)
	require.ErrorContains(t, err, "Set networkPolicy.apiServer.cidrs")
}

// helm lint --strict, through the SDK, for every values file of the matrix.
func TestHelmLintStrict(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no values files to lint with")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.KubeVersion = &chartutil.KubeVersion{Version: render.NewestKubernetes, Major: "1", Minor: "37"}
			result := lint.Run([]string{chartDir}, readValues(t, file))
			for _, m := range result.Messages {
				require.Less(t, m.Severity, support.WarningSev, "lint: %s", m)
			}
			require.Empty(t, result.Errors)
		})
	}
}

// One /tmp size everywhere: the chart's pod templates, the Tasks and the Jobs all bound their /tmp
// emptyDir by steps.TmpSizeLimit (the Tasks once had none while the pods had 64Mi).
func TestEveryTmpVolumeHasTheSameSizeLimit(t *testing.T) {
	docs := defaultRender(t)
	objs := objects(t, docs)
	var seen int
	check := func(where string, volumes any) {
		vs, _ := volumes.([]any)
		for _, v := range vs {
			if get(v, "name") != steps.TmpVolume {
				continue
			}
			seen++
			require.Equal(t, steps.TmpSizeLimit, get(v, "emptyDir", "sizeLimit"), "%s: /tmp sizeLimit", where)
		}
	}
	for key, o := range objs {
		switch {
		case strings.HasPrefix(key, "Task/"):
			check(key, get(o, "spec", "volumes"))
		case strings.HasPrefix(key, "Deployment/"):
			check(key, get(o, "spec", "template", "spec", "volumes"))
		}
	}
	if job := actionJob(objs); job != nil {
		check("action Job", get(job, "spec", "template", "spec", "volumes"))
	}
	require.Equal(t, 1+len(testenv.Catalogue(t).Actions)+1, seen, "the controller, every Task and the action Job have a /tmp volume")
}
