package crd_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/crd"
)

// validate runs the API server's own CustomResourceDefinition validation: structural schema, CEL
// compilation of every rule and message expression, and the estimated cost limits.
func validate(t *testing.T, in *apiextensionsv1.CustomResourceDefinition) []string {
	t.Helper()
	scheme := runtime.NewScheme()
	require.NoError(t, apiextensions.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	var internal apiextensions.CustomResourceDefinition
	require.NoError(t, scheme.Convert(in, &internal, nil))
	internal.Status.StoredVersions = []string{in.Spec.Versions[0].Name} // the API server records it
	var out []string
	for _, e := range validation.ValidateCustomResourceDefinition(context.Background(), &internal) {
		out = append(out, e.Error())
	}
	return out
}

func TestCRDsPassTheAPIServersValidation(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	run, err := crd.ActionRun(cat)
	require.NoError(t, err)
	require.Empty(t, validate(t, run))
	require.Empty(t, validate(t, crd.ActionApproval()))
}

// The validation can fail: a message with a CEL syntax error, and a rule too costly for the API server.
func TestCRDValidationCatchesMistakes(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	for name, c := range map[string]struct {
		mutate func(*apiextensionsv1.JSONSchemaProps)
		want   string
	}{
		"a message that does not compile": {func(s *apiextensionsv1.JSONSchemaProps) {
			s.XValidations[1].MessageExpression = "'it's'"
		}, "messageExpression compilation failed"},
		"a rule over unbounded strings": {func(s *apiextensionsv1.JSONSchemaProps) {
			p := s.Properties["parameters"]
			p.AdditionalProperties.Schema.MaxLength = nil
			p.MaxProperties = nil
			s.Properties["parameters"] = p
			for i := 0; i < 20; i++ {
				s.XValidations = append(s.XValidations, apiextensionsv1.ValidationRule{Rule: "self.parameters.all(k, self.parameters.all(j, string(self.parameters[j]).matches(string(self.parameters[k]))))"})
			}
		}, "cost"},
	} {
		t.Run(name, func(t *testing.T) {
			run, err := crd.ActionRun(cat)
			require.NoError(t, err)
			spec := run.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			c.mutate(&spec)
			run.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
			errs := validate(t, run)
			require.NotEmpty(t, errs)
			require.Contains(t, strings.Join(errs, "\n"), c.want)
		})
	}
}

func TestActionRunRulesNameEveryParameter(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	run, err := crd.ActionRun(cat)
	require.NoError(t, err)
	var rules []string
	for _, r := range run.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].XValidations {
		rules = append(rules, r.Message+r.MessageExpression+" "+r.FieldPath)
	}
	all := strings.Join(rules, "\n")
	for _, a := range cat.Actions {
		for _, p := range crd.RequestParameters(a) {
			require.Contains(t, all, "spec.parameters."+p.Name+": "+a.Name+" takes", "%s %s", a.Name, p.Name)
			require.Contains(t, all, " .parameters."+p.Name, "fieldPath of %s %s", a.Name, p.Name)
		}
	}
}
