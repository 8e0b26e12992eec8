// Package check is the security conformance suite: it proves on any rendered manifests that the
// security model holds, in five layers run over all documents together.
//
//  1. schema: kubeconform, strict and offline (Kubernetes, Tekton Task and Argo CD Application schemas);
//  2. conformance rules in Rego (rules/, embedded; one package and one _test.rego per rule);
//  3. pod-security: k8s.io/pod-security-admission at restricted:latest on every pod spec, each Tekton
//     Task turned into the containers Tekton would run (steps merged with the stepTemplate);
//  4. rbac-covers: k8s.io/component-helpers' Covers: each per-action ClusterRole grants what its
//     catalogue entry needs (that the controller holds none of it is the Rego rule
//     controller-holds-no-action-permission);
//  5. task-steps: each action's Task runs the steps its catalogue entry gives, in order, with their
//     argv, read from the catalogue by the check, not by the step builder that generated the Task.
package check

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	pipelinev1 "github.com/tektoncd/pipeline/pkg/apis/pipeline/v1"
	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	rbacvalidation "k8s.io/component-helpers/auth/rbac/validation"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/rbac"
	"github.com/jordigilh/kubernaut-execution/internal/schemas"
)

//go:embed rules/*.rego
var rulesFS embed.FS

// Layers implemented in Go; the Rego rules are named after their packages.
const (
	RuleSchema      = "schema"
	RulePodSecurity = "pod-security"
	RuleRBACCovers  = "rbac-covers"
)

// GoRules are the rules implemented in Go; every other rule is a Rego package under rules/.
var GoRules = []string{RuleSchema, RulePodSecurity, RuleRBACCovers, RuleTaskSteps}

// Violation is one broken rule on one object.
type Violation struct {
	Rule      string `json:"rule"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Message   string `json:"message"`
}

func (v Violation) String() string {
	ns := v.Namespace
	if ns == "" {
		ns = "-"
	}
	return fmt.Sprintf("%s\t%s/%s/%s\t%s", v.Rule, v.Kind, ns, v.Name, v.Message)
}

// Options configure a Checker.
type Options struct {
	// Catalogue is what the per-action rules are compared with.
	Catalogue *catalogue.Catalogue
	// SchemaDir holds the JSON schemas of KubernetesVersion (see schemas.Ensure).
	SchemaDir         string
	KubernetesVersion string
	// RequireDigests makes every image need a digest (production renders).
	RequireDigests bool
	// MinPrefixLength is the broadest API-server ipBlock allowed, as the chart's
	// networkPolicy.apiServer.minPrefixLength; zero values take DefaultMinPrefixLength's.
	MinPrefixLength PrefixLengths
	// Skip lists rules not to report, for renders that turn a feature off on purpose.
	Skip []string
}

// PrefixLengths bound CIDRs by address family.
type PrefixLengths struct {
	IPv4 int `json:"ipv4"`
	IPv6 int `json:"ipv6"`
}

// DefaultMinPrefixLength is the chart's default: an API server address is one address. A test holds
// values.yaml's networkPolicy.apiServer.minPrefixLength equal to it.
var DefaultMinPrefixLength = PrefixLengths{IPv4: 32, IPv6: 128}

// Checker runs the suite; it is prepared once and reused.
type Checker struct {
	opts      Options
	schema    validator.Validator
	rules     rego.PreparedEvalQuery
	podPolicy psapolicy.Evaluator
}

// New prepares the checker: schema validator, compiled Rego rules, Pod Security evaluator.
func New(ctx context.Context, opts Options) (*Checker, error) {
	for _, s := range opts.Skip {
		if !slices.Contains(Rules(), s) {
			return nil, fmt.Errorf("unknown rule %q (rules: %s)", s, strings.Join(Rules(), ", "))
		}
	}
	v, err := validator.New([]string{schemas.PathTemplate(opts.SchemaDir)}, validator.Opts{
		Strict: true, KubernetesVersion: strings.TrimPrefix(opts.KubernetesVersion, "v"),
	})
	if err != nil {
		return nil, fmt.Errorf("schema validator: %w", err)
	}
	modules, err := ruleModules()
	if err != nil {
		return nil, err
	}
	params, err := paramsDocument(opts)
	if err != nil {
		return nil, err
	}
	opts2 := []func(*rego.Rego){
		rego.Query("v := data.kubernaut.checks.rules[rule].violation[_]"),
		rego.Store(inmem.NewFromObject(map[string]any{"kubernaut": map[string]any{"params": params}})),
	}
	for name, src := range modules {
		opts2 = append(opts2, rego.Module(name, src))
	}
	prepared, err := rego.New(opts2...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("conformance rules: %w", err)
	}
	evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security evaluator: %w", err)
	}
	return &Checker{opts: opts, schema: v, rules: prepared, podPolicy: evaluator}, nil
}

// Rules lists every rule id, sorted.
func Rules() []string {
	ids := slices.Clone(GoRules)
	names, _ := fs.Glob(rulesFS, "rules/*.rego")
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "rules/"), ".rego")
		if base != "lib" && !strings.HasSuffix(base, "_test") {
			ids = append(ids, base)
		}
	}
	slices.Sort(ids)
	return ids
}

// ruleModules are the embedded rules and their library, without tests.
func ruleModules() (map[string]string, error) {
	names, err := fs.Glob(rulesFS, "rules/*.rego")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.rego") {
			continue
		}
		data, err := rulesFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[n] = string(data)
	}
	return out, nil
}

// paramsDocument is data.kubernaut.params: the forbidden grants and the catalogue's rules, from the
// catalogue package (the one place they are written), the rules every run gets besides its action's, the label that names an action's ClusterRole
// and the Task name prefix, from the execution contract, and the digest switch.
func paramsDocument(opts Options) (map[string]any, error) {
	actions := map[string]any{}
	for _, a := range opts.Catalogue.Actions {
		actions[a.Name] = map[string]any{"scope": a.Scope, "rules": a.PolicyRules()}
	}
	doc := map[string]any{
		"forbiddenVerbs":         catalogue.ForbiddenVerbs(),
		"forbiddenResources":     catalogue.ForbiddenResources(),
		"requireDigests":         opts.RequireDigests,
		"minPrefixLength":        PrefixLengths{IPv4: cmp.Or(opts.MinPrefixLength.IPv4, DefaultMinPrefixLength.IPv4), IPv6: cmp.Or(opts.MinPrefixLength.IPv6, DefaultMinPrefixLength.IPv6)},
		"actionLabel":            execution.DefaultActionLabel,
		"runServiceAccountInfix": execution.DefaultRunServiceAccountInfix,
		"taskPrefix":             execution.DefaultTaskPrefix,
		"catalogue":              map[string]any{"actions": actions},
		"runRules":               rbac.RunRules(),
	}
	// Through JSON, so that typed values (PolicyRule) become the plain documents Rego reads.
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(data, &out)
}

// Check runs every layer over docs and returns the violations, sorted.
func (c *Checker) Check(ctx context.Context, docs []manifest.Document) ([]Violation, error) {
	// The schema layer, the slowest, runs beside the others.
	schemaViolations := make(chan []Violation, 1)
	go func() { schemaViolations <- c.checkSchemas(docs) }()
	var out []Violation
	pods, err := podsOf(docs)
	if err != nil {
		return nil, err
	}
	rv, err := c.checkRules(ctx, docs, pods)
	if err != nil {
		return nil, err
	}
	out = append(out, rv...)
	out = append(out, c.checkPodSecurity(pods)...)
	out = append(out, c.checkTaskSteps(docs)...)
	cv, err := c.checkCovers(docs)
	if err != nil {
		return nil, err
	}
	out = append(out, cv...)
	out = append(out, <-schemaViolations...)

	out = slices.DeleteFunc(out, func(v Violation) bool { return slices.Contains(c.opts.Skip, v.Rule) })
	slices.SortFunc(out, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Message, b.Message))
	})
	return slices.Compact(out), nil
}

func violationOf(rule string, d manifest.Document, msg string) Violation {
	return Violation{Rule: rule, Kind: d.Kind(), Namespace: d.Namespace(), Name: d.Name(), Message: msg}
}

func (c *Checker) checkSchemas(docs []manifest.Document) []Violation {
	var out []Violation
	for _, d := range docs {
		res := c.schema.ValidateResource(resource.Resource{Path: d.Location(), Bytes: d.YAML})
		switch res.Status {
		case validator.Valid:
		case validator.Invalid:
			out = append(out, violationOf(RuleSchema, d, res.Err.Error()))
		default:
			// kubeconform treats a schema that does not compile as missing: both land here.
			out = append(out, violationOf(RuleSchema, d, fmt.Sprintf("%v (no schema for %s %s, or it does not compile)", res.Err, d.APIVersion(), d.Kind())))
		}
	}
	return out
}

func (c *Checker) checkRules(ctx context.Context, docs []manifest.Document, pods []pod) ([]Violation, error) {
	objects := make([]any, 0, len(docs))
	for _, d := range docs {
		objects = append(objects, d.Object)
	}
	// The rules read pods as podsOf extracts them, never from the documents themselves.
	podObjects := make([]any, 0, len(pods))
	for _, p := range pods {
		var spec any
		if err := decode(p.spec, &spec); err != nil {
			return nil, err
		}
		podObjects = append(podObjects, map[string]any{"doc": p.doc.Object, "spec": spec, "labels": p.meta.Labels})
	}
	rs, err := c.rules.Eval(ctx, rego.EvalInput(map[string]any{"documents": objects, "pods": podObjects}))
	if err != nil {
		return nil, fmt.Errorf("conformance rules: %w", err)
	}
	var out []Violation
	for _, r := range rs {
		var v Violation
		data, err := json.Marshal(r.Bindings["v"])
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, err
		}
		v.Rule = strings.ReplaceAll(r.Bindings["rule"].(string), "_", "-")
		out = append(out, v)
	}
	return out, nil
}

// pod is one pod a render makes: the document it is in, its metadata (labels) and its spec.
type pod struct {
	doc  manifest.Document
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
}

// podsOf extracts the pods of every document that makes one: the one place the checker reads pod
// specs, for Pod Security and for the rules alike.
func podsOf(docs []manifest.Document) ([]pod, error) {
	var out []pod
	for _, d := range docs {
		meta, spec, err := PodSpec(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Location(), err)
		}
		if spec != nil {
			out = append(out, pod{doc: d, meta: meta, spec: spec})
		}
	}
	return out, nil
}

// PodSpec returns the pod a document makes, if it makes one (nil otherwise). A Task makes its TaskRun
// pods: its steps merged over the stepTemplate by Tekton's own function, with the Task's labels, which
// Tekton copies onto them.
func PodSpec(d manifest.Document) (*metav1.ObjectMeta, *corev1.PodSpec, error) {
	var path []string
	switch d.Kind() {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		path = []string{"spec", "template"}
	case "CronJob":
		path = []string{"spec", "jobTemplate", "spec", "template"}
	case "PodTemplate":
		path = []string{"template"}
	case "Pod":
		path = nil
	case "Task":
		var task pipelinev1.Task
		if err := decode(d.Object, &task); err != nil {
			return nil, nil, err
		}
		steps, err := pipelinev1.MergeStepsWithStepTemplate(task.Spec.StepTemplate, task.Spec.Steps)
		if err != nil {
			return nil, nil, err
		}
		spec := &corev1.PodSpec{Volumes: task.Spec.Volumes}
		for _, s := range steps {
			spec.Containers = append(spec.Containers, *s.ToK8sContainer())
		}
		return &task.ObjectMeta, spec, nil
	default:
		return nil, nil, nil
	}
	var tpl corev1.PodTemplateSpec
	node := any(d.Object)
	for _, p := range path {
		m, _ := node.(map[string]any)
		node = m[p]
	}
	if err := decode(node, &tpl); err != nil {
		return nil, nil, err
	}
	return &tpl.ObjectMeta, &tpl.Spec, nil
}

func decode(from any, to any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, to)
}

func (c *Checker) checkPodSecurity(pods []pod) []Violation {
	level := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var out []Violation
	for _, p := range pods {
		result := psapolicy.AggregateCheckResults(c.podPolicy.EvaluatePod(level, p.meta, p.spec))
		if !result.Allowed {
			for i, reason := range result.ForbiddenReasons {
				out = append(out, violationOf(RulePodSecurity, p.doc, fmt.Sprintf("restricted:latest: %s (%s)", reason, result.ForbiddenDetails[i])))
			}
		}
	}
	return out
}

func (c *Checker) checkCovers(docs []manifest.Document) ([]Violation, error) {
	actionRoles := map[string]manifest.Document{}
	for _, d := range docs {
		if action, ok := d.Labels()[execution.DefaultActionLabel].(string); ok && d.Kind() == "ClusterRole" {
			actionRoles[action] = d
		}
	}
	var out []Violation
	for _, a := range c.opts.Catalogue.Actions {
		d, ok := actionRoles[a.Name]
		if !ok {
			continue // action-complete reports it
		}
		var role rbacv1.ClusterRole
		if err := decode(d.Object, &role); err != nil {
			return nil, fmt.Errorf("%s: %w", d.Location(), err)
		}
		if covers, missing := rbacvalidation.Covers(role.Rules, a.PolicyRules()); !covers {
			out = append(out, violationOf(RuleRBACCovers, d, fmt.Sprintf("does not grant what the %s command needs: %s", a.Name, rulesString(missing))))
		}
	}
	return out, nil
}

func rulesString(rules []rbacv1.PolicyRule) string {
	var parts []string
	for _, r := range rules {
		parts = append(parts, fmt.Sprintf("%s %s/%s", strings.Join(r.Verbs, ","), strings.Join(r.APIGroups, ","), strings.Join(r.Resources, ",")))
	}
	return strings.Join(parts, "; ")
}
