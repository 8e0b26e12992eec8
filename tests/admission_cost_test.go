package tests

import (
	"fmt"
	"math"
	"testing"

	"github.com/google/cel-go/cel"
	celchecker "github.com/google/cel-go/checker"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/library"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
)

// maxRequestSize is what the CEL cost estimator assumes of an input it knows nothing about (dyn): a
// request body of the API server's largest size, as for an unbounded list in a CRD schema.
type maxRequestSize struct{}

func (maxRequestSize) EstimateSize(celchecker.AstNode) *celchecker.SizeEstimate {
	return &celchecker.SizeEstimate{Min: 0, Max: uint64(celconfig.MaxRequestSizeBytes)}
}

func (maxRequestSize) EstimateCallCost(string, string, *celchecker.AstNode, []celchecker.AstNode) *celchecker.CallEstimate {
	return nil
}

// The run contract's CEL cost, in the API server's environment and cost model: every validation
// evaluated, with the variables it reads, on a realistic admitted request (a patch-deployment run
// changing one env value of a 10-container deployment with 20 variables each), against the per-call
// limit and the per-request budget; and the static estimate for inputs of unknown size. The
// expressions must also hold on this request: a contract that refuses what its action is for fails
// here too.
func TestRunContractCost(t *testing.T) {
	p := admissionPolicies(t)["runs-contract"]
	require.NotNil(t, p)
	base, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Env(environment.StoredExpressions)
	require.NoError(t, err)
	env, err := base.Extend(
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType), cel.Variable("request", cel.DynType),
		cel.Variable("params", cel.DynType), cel.Variable("namespaceObject", cel.DynType),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)))
	require.NoError(t, err)

	container := func(i int, level string) map[string]any {
		env := []any{map[string]any{"name": "LOG_LEVEL", "value": level}}
		for j := range 19 {
			env = append(env, map[string]any{"name": fmt.Sprintf("VAR_%d", j), "value": "x"})
		}
		return map[string]any{"name": fmt.Sprintf("c%d", i), "image": "registry.example.com/shop/web:1.0", "env": env,
			"args": []any{"--auth=on"}, "resources": map[string]any{"limits": map[string]any{"memory": "128Mi"}}}
	}
	deployment := func(level string) map[string]any {
		var cs []any
		for i := range 10 {
			cs = append(cs, container(i, level))
		}
		return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "namespace": "shop", "labels": map[string]any{"app": "web"},
				"annotations": map[string]any{"kubernaut.ai/patchable-env": "LOG_LEVEL"}},
			"spec": map[string]any{"replicas": int64(2), "selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec": map[string]any{"serviceAccountName": "web", "containers": cs}}}}
	}
	activation := map[string]any{
		"object": deployment("debug"), "oldObject": deployment("info"),
		"request": map[string]any{"operation": "UPDATE", "namespace": "shop", "name": "web",
			"kind":     map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"},
			"resource": map[string]any{"group": "apps", "version": "v1", "resource": "deployments"},
			"userInfo": map[string]any{"username": "system:serviceaccount:kubernaut-system:kubernaut-execution-run-patch-deployment.shop.r1-0123456789"}},
		"namespaceObject": map[string]any{"metadata": map[string]any{"name": "shop", "labels": map[string]any{"kubernaut.ai/managed": "true"}}},
		"params":          map[string]any{"metadata": map[string]any{"name": "kubernaut-system", "labels": map[string]any{}}},
	}
	variables := map[string]any{}
	activation["variables"] = variables

	var actual, worstEstimate uint64
	eval := func(what, expr string) any {
		t.Helper()
		ast, iss := env.Compile(expr)
		require.NoError(t, iss.Err(), what)
		est, err := env.EstimateCost(ast, &library.CostEstimator{SizeEstimator: maxRequestSize{}})
		require.NoError(t, err, what)
		worstEstimate = max(worstEstimate, est.Max)
		prg, err := env.Program(ast, cel.CostTracking(&library.CostEstimator{}), cel.CostLimit(celconfig.PerCallLimit))
		require.NoError(t, err, what)
		out, details, err := prg.Eval(activation)
		require.NoError(t, err, what)
		actual += *details.ActualCost()
		return out.Value()
	}
	for _, v := range p.Spec.Variables {
		variables[v.Name] = eval("variable "+v.Name, v.Expression)
	}
	for i, v := range p.Spec.Validations {
		require.Equal(t, true, eval(fmt.Sprintf("validation %d", i), v.Expression), "validation %d (%s) refuses the legitimate request", i, v.Message)
	}
	t.Logf("run contract, %d validations on a 10-container patch-deployment request: actual cost %d (per-call limit %d, per-request budget %d)",
		len(p.Spec.Validations), actual, celconfig.PerCallLimit, celconfig.RuntimeCELCostBudget)
	estimate := fmt.Sprint(worstEstimate)
	if worstEstimate == math.MaxUint64 {
		estimate = "unbounded"
	}
	t.Logf("static estimate of the costliest expression for inputs of up to %d bytes: %s", celconfig.MaxRequestSizeBytes, estimate)
	require.Less(t, actual, uint64(celconfig.RuntimeCELCostBudget))

	// The negative control: the same request with the pod template's identity changed is refused.
	spec := activation["object"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	spec["serviceAccountName"] = "admin"
	for k := range variables {
		delete(variables, k)
	}
	for _, v := range p.Spec.Variables {
		variables[v.Name] = eval("variable "+v.Name, v.Expression)
	}
	refused := 0
	for i, v := range p.Spec.Validations {
		if eval(fmt.Sprintf("validation %d", i), v.Expression) != true {
			refused++
		}
	}
	require.Positive(t, refused, "a changed serviceAccountName must fail a validation")
}

// values paused=true is the kill switch without a label: in the rendered run contract the paused
// variable is true with no label on the release namespace, and false in the default render.
func TestPausedValueIsTheKillSwitch(t *testing.T) {
	base, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Env(environment.StoredExpressions)
	require.NoError(t, err)
	env, err := base.Extend(cel.Variable("params", cel.DynType))
	require.NoError(t, err)
	paused := func(docs []manifest.Document) any {
		for _, d := range docs {
			if d.Kind() != "ValidatingAdmissionPolicy" || d.Name() != "kubernaut-execution-runs-contract" {
				continue
			}
			var p admissionregistrationv1.ValidatingAdmissionPolicy
			require.NoError(t, yaml.UnmarshalStrict(d.YAML, &p))
			for _, v := range p.Spec.Variables {
				if v.Name == "paused" {
					ast, iss := env.Compile(v.Expression)
					require.NoError(t, iss.Err())
					prg, err := env.Program(ast)
					require.NoError(t, err)
					out, _, err := prg.Eval(map[string]any{"params": map[string]any{"metadata": map[string]any{"name": "kubernaut-system"}}})
					require.NoError(t, err)
					return out.Value()
				}
			}
		}
		t.Fatal("no paused variable in the run contract")
		return nil
	}
	vals := readValues(t, chartDir+"/ci/default-values.yaml")
	require.Equal(t, false, paused(defaultRender(t)))
	vals["paused"] = true
	docs, err := renderWith(t, render.NewestKubernetes, vals)
	require.NoError(t, err)
	require.Equal(t, true, paused(docs))
}
