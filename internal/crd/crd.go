// Package crd builds the execution.kubernaut.io CustomResourceDefinitions: ActionRun, whose parameters
// are typed per action from the catalogue so that the API server refuses a malformed request before
// any controller sees it, and ActionApproval. Both specs are immutable once created.
//
// An ActionRun's parameters are a map (not one property per name) so that every key reaches the
// validation rules: the API server prunes unknown properties before validating, and a client that
// does not ask for strict field validation would lose a mistyped parameter without an error. Each
// action's rules are guarded by `self.action != '<name>' || ...`, name the offending field through
// fieldPath, and say what the action takes.
package crd

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1alpha1 "github.com/jordigilh/kubernaut-execution/api/v1alpha1"
	"github.com/jordigilh/kubernaut-execution/catalogue"
)

// MaxParameterLength is the longest parameter value, as the gate bounds it (policies/lib/gate.rego).
const MaxParameterLength = 4096

// maxNameLength bounds user names and object names: it keeps the rules' estimated cost low.
const maxNameLength = 512

// ActionRun is the ActionRun CRD for the catalogue.
func ActionRun(cat *catalogue.Catalogue) (*apiextensionsv1.CustomResourceDefinition, error) {
	var names []string
	maxParams := 0
	for _, a := range cat.Actions {
		names = append(names, a.Name)
		maxParams = max(maxParams, len(RequestParameters(a)))
	}
	var rules apiextensionsv1.ValidationRules
	rules = append(rules, apiextensionsv1.ValidationRule{Rule: "self == oldSelf", Message: "spec is immutable: create a new ActionRun"})
	for _, a := range cat.Actions {
		r, err := actionRules(a)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r...)
	}
	spec := apiextensionsv1.JSONSchemaProps{
		Type:         "object",
		Description:  "The request: the action, its parameters and who asked. Immutable.",
		Required:     []string{"action", "requester"},
		XValidations: rules,
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"action": {Type: "string", Description: "The catalogue action's name.", Enum: enum(names)},
			"parameters": {
				Type:          "object",
				Description:   "The action's parameters by name, integers as numbers. A Namespaced action acts on the ActionRun's own namespace, which is not a parameter here.",
				MaxProperties: ptr.To(int64(maxParams)),
				AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{
					XIntOrString: true,
					MaxLength:    ptr.To(int64(MaxParameterLength)),
				}},
			},
			"mode": {Type: "string", Description: "tekton (a TaskRun) or job (a Job); empty takes the release's default.", Enum: enum([]string{v1alpha1.ModeJob, v1alpha1.ModeTekton})},
			// The chart's template sets the default to the installing release's name.
			"release": {Type: "string", MaxLength: ptr.To(int64(53)), Pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
				Description: "The Helm release whose controller runs it; defaults to the release that installed this API. Each release's controller runs only its own."},
			"requester": {Type: "string", MinLength: ptr.To(int64(1)), MaxLength: ptr.To(int64(maxNameLength)),
				Description: "The user creating the ActionRun, exactly as the API server authenticates it (kubectl auth whoami); admission refuses any other value."},
		},
	}
	status := apiextensionsv1.JSONSchemaProps{
		Type:                   "object",
		Description:            "What the controller decided and observed.",
		XPreserveUnknownFields: ptr.To(true),
	}
	columns := []apiextensionsv1.CustomResourceColumnDefinition{
		{Name: "Action", Type: "string", JSONPath: ".spec.action"},
		{Name: "Phase", Type: "string", JSONPath: ".status.phase"},
		{Name: "Release", Type: "string", JSONPath: ".spec.release", Priority: 1},
		{Name: "Requester", Type: "string", JSONPath: ".spec.requester", Priority: 1},
		{Name: "Approved-By", Type: "string", JSONPath: ".status.approvedBy", Priority: 1},
		{Name: "Service-Account", Type: "string", JSONPath: ".status.serviceAccount", Priority: 1},
		{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
	}
	return definition(v1alpha1.ActionRunKind, v1alpha1.ActionRunResource, "actionrun", []string{"ar"}, spec, &status, columns), nil
}

// ActionApproval is the ActionApproval CRD.
func ActionApproval() *apiextensionsv1.CustomResourceDefinition {
	name := apiextensionsv1.JSONSchemaProps{Type: "string", MinLength: ptr.To(int64(1)), MaxLength: ptr.To(int64(253)), Description: "The ActionRun's name."}
	spec := apiextensionsv1.JSONSchemaProps{
		Type:         "object",
		Description:  "What is approved, by whom, for how long. Immutable.",
		Required:     []string{"actionRun", "specHash", "approver", "expiresAfterSeconds"},
		XValidations: apiextensionsv1.ValidationRules{{Rule: "self == oldSelf", Message: "spec is immutable: create a new ActionApproval"}},
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"actionRun": {
				Type: "object", Description: "The approved ActionRun, in this namespace.", Required: []string{"name", "uid"},
				Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"name": name,
					"uid":  {Type: "string", Description: "The ActionRun's metadata.uid.", Pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"},
				},
			},
			"specHash": {Type: "string", Description: "The ActionRun's status.specHash as the approver read it.", Pattern: "^sha256:[0-9a-f]{64}$"},
			"approver": {Type: "string", MinLength: ptr.To(int64(1)), MaxLength: ptr.To(int64(maxNameLength)),
				Description: "The user creating the approval, exactly as the API server authenticates it; admission refuses any other value, and the controller's and every run's identity."},
			"expiresAfterSeconds": {Type: "integer", Format: "int64", Minimum: ptr.To(60.0), Maximum: ptr.To(86400.0),
				Description: "How long the approval holds from its creationTimestamp, which the API server sets: 60 to 86400."},
			"reason": {Type: "string", MaxLength: ptr.To(int64(1024)), Description: "The approver's note."},
		},
	}
	columns := []apiextensionsv1.CustomResourceColumnDefinition{
		{Name: "Run", Type: "string", JSONPath: ".spec.actionRun.name"},
		{Name: "Approver", Type: "string", JSONPath: ".spec.approver"},
		{Name: "Expires-After", Type: "integer", JSONPath: ".spec.expiresAfterSeconds", Priority: 1},
		{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
	}
	return definition(v1alpha1.ActionApprovalKind, v1alpha1.ActionApprovalResource, "actionapproval", []string{"aa"}, spec, nil, columns)
}

// RequestParameters are the parameters an ActionRun of a carries: all but a Namespaced action's
// namespace, which is the ActionRun's own.
func RequestParameters(a catalogue.Action) []catalogue.Parameter {
	var out []catalogue.Parameter
	for _, p := range a.Parameters {
		if a.Scope == catalogue.Namespaced && p.Name == catalogue.NamespaceParameter {
			continue
		}
		out = append(out, p)
	}
	return out
}

func definition(kind, plural, singular string, short []string, spec apiextensionsv1.JSONSchemaProps, status *apiextensionsv1.JSONSchemaProps, columns []apiextensionsv1.CustomResourceColumnDefinition) *apiextensionsv1.CustomResourceDefinition {
	props := map[string]apiextensionsv1.JSONSchemaProps{
		"apiVersion": {Type: "string"},
		"kind":       {Type: "string"},
		"metadata":   {Type: "object"},
		"spec":       spec,
	}
	var sub *apiextensionsv1.CustomResourceSubresources
	if status != nil {
		props["status"] = *status
		sub = &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + v1alpha1.Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: v1alpha1.Group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: kind, ListKind: kind + "List", Plural: plural, Singular: singular, ShortNames: short, Categories: []string{"kubernaut"}},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: v1alpha1.Version, Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", Required: []string{"spec"}, Properties: props,
				}},
				Subresources:             sub,
				AdditionalPrinterColumns: columns,
			}},
		},
	}
}

// actionRules are a's rules on spec: which keys, which are required, and each value's type and bounds.
func actionRules(a catalogue.Action) ([]apiextensionsv1.ValidationRule, error) {
	params := RequestParameters(a)
	guard := fmt.Sprintf("self.action != %s || ", quote(a.Name))
	var keys []string
	for _, p := range params {
		keys = append(keys, quote(p.Name))
	}
	list := "[" + strings.Join(keys, ", ") + "]"
	takes := "no parameters"
	if len(params) > 0 {
		var ns []string
		for _, p := range params {
			ns = append(ns, p.Name)
		}
		takes = strings.Join(ns, ", ")
	}
	hint := ""
	if a.Scope == catalogue.Namespaced {
		hint = " (its namespace is the ActionRun's own)"
	}
	rules := []apiextensionsv1.ValidationRule{{
		Rule: guard + "!has(self.parameters) || self.parameters.all(k, k in " + list + ")",
		MessageExpression: fmt.Sprintf("%s + self.parameters.filter(k, !(k in %s))[0] + %s",
			quote("spec.parameters."), list, quote(fmt.Sprintf(": not a parameter of %s, which takes %s%s", a.Name, takes, hint))),
		Reason: ptr.To(apiextensionsv1.FieldValueInvalid),
	}}
	for _, p := range params {
		path := ".parameters." + p.Name
		if p.Required {
			rules = append(rules, apiextensionsv1.ValidationRule{
				Rule:    fmt.Sprintf("%shas(self.parameters) && %s in self.parameters", guard, quote(p.Name)),
				Message: fmt.Sprintf("spec.parameters.%s: required by %s", p.Name, a.Name),
				Reason:  ptr.To(apiextensionsv1.FieldValueRequired),
			})
		}
		check, want, err := valueCheck(p, "self.parameters["+quote(p.Name)+"]")
		if err != nil {
			return nil, fmt.Errorf("action %s, parameter %s: %w", a.Name, p.Name, err)
		}
		rules = append(rules, apiextensionsv1.ValidationRule{
			Rule:      fmt.Sprintf("%s!has(self.parameters) || !(%s in self.parameters) || (%s)", guard, quote(p.Name), check),
			Message:   fmt.Sprintf("spec.parameters.%s: %s takes %s", p.Name, a.Name, want),
			FieldPath: path,
			Reason:    ptr.To(apiextensionsv1.FieldValueInvalid),
		})
	}
	return rules, nil
}

// valueCheck is the CEL that v meets p's type and bounds, and those bounds in words.
func valueCheck(p catalogue.Parameter, v string) (string, string, error) {
	switch p.Type {
	case catalogue.TypeInteger:
		checks := []string{"type(" + v + ") == int"}
		want := "an integer"
		if p.Minimum != nil {
			checks = append(checks, fmt.Sprintf("%s >= %d", v, *p.Minimum))
		}
		if p.Maximum != nil {
			checks = append(checks, fmt.Sprintf("%s <= %d", v, *p.Maximum))
		}
		switch {
		case p.Minimum != nil && p.Maximum != nil:
			want = fmt.Sprintf("an integer from %d to %d", *p.Minimum, *p.Maximum)
		case p.Minimum != nil:
			want = fmt.Sprintf("an integer of at least %d", *p.Minimum)
		case p.Maximum != nil:
			want = fmt.Sprintf("an integer of at most %d", *p.Maximum)
		}
		return strings.Join(checks, " && "), want, nil
	case catalogue.TypeBoolean:
		// The map's values are integers or strings, so a boolean is written "true" or "false".
		return fmt.Sprintf("type(%s) == string && %s in ['true', 'false']", v, v), `"true" or "false"`, nil
	case catalogue.TypeString:
		checks := []string{"type(" + v + ") == string"}
		var want []string
		if len(p.Enum) > 0 {
			var qs []string
			for _, e := range p.Enum {
				qs = append(qs, quote(e))
			}
			checks = append(checks, v+" in ["+strings.Join(qs, ", ")+"]")
			want = append(want, "one of "+strings.Join(p.Enum, ", "))
		}
		if p.Pattern != "" {
			checks = append(checks, v+".matches("+quote(p.Pattern)+")")
			want = append(want, "a string matching "+p.Pattern)
		}
		if len(want) == 0 {
			want = append(want, "a string")
		}
		return strings.Join(checks, " && "), strings.Join(want, " and "), nil
	}
	return "", "", fmt.Errorf("type %q has no ActionRun schema", p.Type)
}

// quote is s as a CEL string literal.
func quote(s string) string { return strconv.Quote(s) }

func enum(values []string) []apiextensionsv1.JSON {
	values = slices.Sorted(slices.Values(values))
	out := make([]apiextensionsv1.JSON, 0, len(values))
	for _, v := range values {
		out = append(out, apiextensionsv1.JSON{Raw: []byte(strconv.Quote(v))})
	}
	return out
}
