package tests

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	"k8s.io/apiserver/pkg/cel/environment"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/internal/render"
)

// admissionPolicies returns the rendered ValidatingAdmissionPolicies by name suffix (bindings,
// serviceaccounts, workloads on the controller; runs-contract on every run identity).
func admissionPolicies(t *testing.T) map[string]*admissionregistrationv1.ValidatingAdmissionPolicy {
	t.Helper()
	out := map[string]*admissionregistrationv1.ValidatingAdmissionPolicy{}
	for _, d := range defaultRender(t) {
		if d.Kind() == "ValidatingAdmissionPolicy" {
			var p admissionregistrationv1.ValidatingAdmissionPolicy
			require.NoError(t, yaml.UnmarshalStrict(d.YAML, &p))
			out[strings.TrimPrefix(strings.TrimPrefix(p.Name, "kubernaut-execution-"), "controller-")] = &p
		}
	}
	require.ElementsMatch(t, []string{"bindings", "serviceaccounts", "workloads", "records", "runs-contract", "action-runs", "action-approvals"}, slices.Collect(maps.Keys(out)))
	return out
}

func admissionPolicy(t *testing.T) *admissionregistrationv1.ValidatingAdmissionPolicy {
	t.Helper()
	p, ok := admissionPolicies(t)["bindings"]
	require.True(t, ok, "no bindings policy rendered")
	return p
}

// compileCEL compiles every expression of a policy with the API server's own CEL compiler, in the
// environment the API server uses for stored expressions, variables first as the server does.
func compileCEL(p *admissionregistrationv1.ValidatingAdmissionPolicy) []error {
	compiler, err := plugincel.NewCompositedCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	if err != nil {
		return []error{err}
	}
	opts := plugincel.OptionalVariableDeclarations{HasParams: p.Spec.ParamKind != nil, HasAuthorizer: true}
	var errs []error
	check := func(r plugincel.CompilationResult) {
		if r.Error != nil {
			errs = append(errs, r.Error)
		}
	}
	for _, v := range p.Spec.Variables {
		check(compiler.CompileAndStoreVariable(&validating.Variable{Name: v.Name, Expression: v.Expression}, opts, environment.StoredExpressions))
	}
	for _, m := range p.Spec.MatchConditions {
		check(compiler.CompileCELExpression(&validating.ValidationCondition{Expression: m.Expression}, opts, environment.StoredExpressions))
	}
	for _, v := range p.Spec.Validations {
		check(compiler.CompileCELExpression(&validating.ValidationCondition{Expression: v.Expression}, opts, environment.StoredExpressions))
		if v.MessageExpression != "" {
			check(compiler.CompileCELExpression(&validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}, opts, environment.StoredExpressions))
		}
	}
	return errs
}

func TestAdmissionPoliciesCompileAndFailClosed(t *testing.T) {
	for name, p := range admissionPolicies(t) {
		t.Run(name, func(t *testing.T) {
			require.Empty(t, compileCEL(p))
			require.Equal(t, admissionregistrationv1.Fail, *p.Spec.FailurePolicy)
			// Every policy guards creates and updates, except the records policy, which guards deletes, and
			// the API's, which guard creates: the CRDs keep a spec immutable, and the controller updates
			// its runs' finalizers.
			want := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
			switch name {
			case "records":
				want = []admissionregistrationv1.OperationType{admissionregistrationv1.Delete}
			case "action-runs", "action-approvals":
				want = []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
			}
			for _, r := range p.Spec.MatchConstraints.ResourceRules {
				require.Subset(t, r.Operations, want)
			}
		})
	}
}

// The compile check can fail: an unknown function, an undeclared variable, a syntax error.
func TestAdmissionPolicyCompileCheckCatchesMistakes(t *testing.T) {
	for name, mutate := range map[string]func(p *admissionregistrationv1.ValidatingAdmissionPolicy){
		"unknown function": func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[2].Expression = strings.Replace(p.Spec.Validations[2].Expression, "size(", "length(", 1)
		},
		"undeclared variable": func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].Expression = strings.Replace(p.Spec.Validations[0].Expression, "variables.actionRoles", "variables.actionRole", 1)
		},
		"syntax error": func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.MatchConditions[0].Expression += " &&"
		},
		"message expression not a string": func(p *admissionregistrationv1.ValidatingAdmissionPolicy) {
			p.Spec.Validations[0].MessageExpression = "size(object.subjects)"
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := admissionPolicy(t)
			mutate(p)
			require.NotEmpty(t, compileCEL(p))
		})
	}
}

func TestAdmissionPolicyCanBeTurnedOff(t *testing.T) {
	vals := readValues(t, chartDir+"/ci/default-values.yaml")
	vals["admissionPolicy"] = map[string]any{"enabled": false}
	docs, err := renderWith(t, render.NewestKubernetes, vals)
	require.NoError(t, err)
	for _, d := range docs {
		require.NotContains(t, d.Kind(), "ValidatingAdmissionPolicy")
	}
	// kubernaut-execution check says what is missing, and only that, until the operator says so with --skip.
	got := violations(t, checker(t, render.NewestKubernetes, false), docs)
	require.NotEmpty(t, got)
	for _, v := range got {
		require.Contains(t, []string{"admission-policy", "run-contract"}, v.Rule, v.String())
	}
	require.Empty(t, violations(t, checker(t, render.NewestKubernetes, false, "admission-policy", "run-contract"), docs))
}
