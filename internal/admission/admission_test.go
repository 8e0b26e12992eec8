package admission_test

import (
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/jordigilh/kubernaut-execution/internal/admission"
)

// eval evaluates admission.Unchanged(paths) on new and old in the API server's CEL environment.
func eval(t *testing.T, paths []string, newObj, oldObj map[string]any) bool {
	t.Helper()
	base, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Env(environment.StoredExpressions)
	require.NoError(t, err)
	env, err := base.Extend(cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)))
	require.NoError(t, err)
	ast, iss := env.Compile(admission.Unchanged(paths))
	require.NoError(t, iss.Err())
	prg, err := env.Program(ast)
	require.NoError(t, err)
	out, _, err := prg.Eval(map[string]any{"variables": map[string]any{"new": newObj, "old": oldObj}})
	require.NoError(t, err)
	return out.Value().(bool)
}

func deployment(containers ...map[string]any) map[string]any {
	list := make([]any, len(containers))
	for i, c := range containers {
		list[i] = c
	}
	return map[string]any{"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}, "resourceVersion": "1"},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{"containers": list}}}}
}

func TestUnchangedAllowsOnlyThePaths(t *testing.T) {
	paths := []string{"spec.replicas", "spec.template.spec.containers[].image", "spec.template.spec.containers[].resources.limits"}
	old := deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"}})
	for _, tc := range []struct {
		name  string
		new   map[string]any
		admit bool
	}{
		{"nothing changed", deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"}}), true},
		{"an image", deployment(map[string]any{"name": "app", "image": "a:2", "args": []any{"--auth"}}), true},
		{"limits added where there were no resources", deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"},
			"resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}}), true},
		{"requests added", deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"},
			"resources": map[string]any{"requests": map[string]any{"memory": "1Gi"}}}), false},
		{"args cleared", deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{}}), false},
		{"args removed", deployment(map[string]any{"name": "app", "image": "a:1"}), false},
		{"a container added", deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"}}, map[string]any{"name": "x", "image": "a:1"}), false},
		{"a container renamed", deployment(map[string]any{"name": "other", "image": "a:1", "args": []any{"--auth"}}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.admit, eval(t, paths, tc.new, old))
		})
	}
	// Outside spec: labels must stay; server-managed metadata may change.
	relabelled := deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"}})
	relabelled["metadata"].(map[string]any)["labels"] = map[string]any{}
	require.False(t, eval(t, paths, relabelled, old), "labels removed")
	bumped := deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"}})
	bumped["metadata"].(map[string]any)["resourceVersion"] = "2"
	require.True(t, eval(t, paths, bumped, old), "resourceVersion is the server's")
	scaled := deployment(map[string]any{"name": "app", "image": "a:1", "args": []any{"--auth"}})
	scaled["spec"].(map[string]any)["replicas"] = int64(5)
	require.True(t, eval(t, paths, scaled, old), "replicas")
	require.False(t, eval(t, nil, scaled, old), "no paths: nothing may change")
}
