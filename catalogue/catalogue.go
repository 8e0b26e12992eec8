// Package catalogue loads and validates the action catalogue, the one source of truth for every
// remediation action: its RBAC rules, scope, parameters, kubectl argv and defaults.
//
// Other Go code (the generator, the tests, the execution controller) reads the same catalogue through
// this package; Default returns the shipped one, embedded at build time.
package catalogue

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	rbacv1 "k8s.io/api/rbac/v1"
)

// DefaultPath is the shipped catalogue, relative to the repository root.
const DefaultPath = "catalogue/actions.yaml"

//go:embed actions.yaml
var shipped []byte

// Scope says how an action's ClusterRole is bound: in the target namespace or cluster-wide.
type Scope string

const (
	Namespaced Scope = "Namespaced"
	Cluster    Scope = "Cluster"
)

// Parameter types an action may declare.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
)

// NamespaceParameter is the parameter a Namespaced action is bound by: its RoleBinding goes there.
const NamespaceParameter = "namespace"

// Catalogue is the decoded actions.yaml.
type Catalogue struct {
	Actions []Action `yaml:"actions"`
}

// Action is one remediation action.
type Action struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Scope       Scope  `yaml:"scope"`
	Approval    bool   `yaml:"approval"`
	// ApprovalInProduction asks a person to approve every run against a production target; the gate
	// applies it, so no policy writes it again.
	ApprovalInProduction bool        `yaml:"approvalInProduction"`
	DryRun               DryRun      `yaml:"dryRun"`
	Rules                []Rule      `yaml:"rules"`
	Parameters           []Parameter `yaml:"parameters"`
	// Context is the state of the target that the action's policy reads (current replicas, the pod's
	// owner kind), supplied by the controller with the run; the gate refuses a run without it.
	Context []ContextField `yaml:"context"`
	// Command is the kubectl argv; `$(params.<name>)` is substituted within each element.
	Command []string `yaml:"command"`
	// Admission is the action's contract with the API server: every request that changes something
	// which the action's identity may make, and what each may change. The generator turns it into a
	// ValidatingAdmissionPolicy on every run identity; a request outside it is refused there, whatever
	// the caller asked for and whoever holds the token.
	Admission []Request `yaml:"admission"`
}

// Request is one kind of changing request an action makes, as the API server's admission sees it.
type Request struct {
	APIGroup string `yaml:"apiGroup"`
	// Resource is the plural resource, with /subresource where the request is on one (pods/eviction).
	Resource string `yaml:"resource"`
	// Operations are admission operations: CREATE, UPDATE (a PATCH arrives as UPDATE), DELETE.
	Operations []string `yaml:"operations"`
	// MayChange lists, for UPDATE, the only fields that may differ from the object as it was; every
	// other field of spec (and data), and the labels, annotations, owners and finalizers, must be equal.
	MayChange []Change `yaml:"mayChange"`
	// Validations are further CEL rules on the request (see the catalogue's header for the variables).
	Validations []Validation `yaml:"validations"`
}

// Change is one field an UPDATE may change. A path is dot-separated keys; `name[]` is a list of
// named elements (containers, env) matched by their name, so none may be added, removed or renamed.
type Change struct {
	Path string `yaml:"path"`
	// Parameter, when set, names the parameter the field takes its value from: the new value must
	// meet that parameter's type, bounds, pattern and enum.
	Parameter string `yaml:"parameter"`
}

// Validation is a CEL expression that must hold, and the message given when it does not.
type Validation struct {
	Expression string `yaml:"expression"`
	Message    string `yaml:"message"`
}

// DryRun says whether the action runs `--dry-run=server` before the real run.
type DryRun struct {
	Supported bool `yaml:"supported"`
	// Reason is required when Supported is false.
	Reason string `yaml:"reason"`
}

// Rule is an rbac.authorization.k8s.io/v1 PolicyRule in the catalogue's YAML spelling.
type Rule struct {
	APIGroups       []string `yaml:"apiGroups"`
	Resources       []string `yaml:"resources"`
	Verbs           []string `yaml:"verbs"`
	ResourceNames   []string `yaml:"resourceNames"`
	NonResourceURLs []string `yaml:"nonResourceURLs"`
	// OtherPaths says, per verb, why the command needs it on a path the real-cluster minimality test
	// does not take (a rollout still in progress, another parameter value).
	OtherPaths map[string]string `yaml:"otherPaths"`
}

// Parameter is one typed input of an action. Its JSON form (keyed by name elsewhere) is what the
// policy gate reads to check values: constraints only, so the policy ConfigMap stays small.
type Parameter struct {
	Name        string   `yaml:"name" json:"-"`
	Type        string   `yaml:"type" json:"type"`
	Required    bool     `yaml:"required" json:"required"`
	Description string   `yaml:"description" json:"-"`
	Pattern     string   `yaml:"pattern" json:"pattern,omitempty"`
	Minimum     *int64   `yaml:"minimum" json:"minimum,omitempty"`
	Maximum     *int64   `yaml:"maximum" json:"maximum,omitempty"`
	Enum        []string `yaml:"enum" json:"enum,omitempty"`
	// Example is a value the parameter accepts: the tests run the action with it (tests/testenv), so an
	// action added to the catalogue is run by every test layer without a test edit.
	Example string `yaml:"example" json:"-"`
}

// ContextField is one typed field of the target context.
type ContextField struct {
	Name        string `yaml:"name" json:"-"`
	Type        string `yaml:"type" json:"type"`
	Description string `yaml:"description" json:"-"`
	// Example is a value of the field's type, written as YAML would (2, true, ReplicaSet): the target
	// context the tests run the action with.
	Example string `yaml:"example" json:"-"`
}

// Default returns the catalogue shipped with this module.
func Default() (*Catalogue, error) {
	return Parse(DefaultPath, shipped)
}

// Load reads and validates the catalogue at path.
func Load(path string) (*Catalogue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalogue %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes data strictly (unknown fields are errors) and validates the whole catalogue. On failure
// the error is a Problems listing every problem found, each with file:line.
func Parse(file string, data []byte) (*Catalogue, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Problems{{File: file, Line: yamlErrorLine(err), Msg: err.Error()}}
	}
	lines := indexLines(&root)

	// Decoding errors and validation problems are reported together, so one run shows everything.
	var c Catalogue
	var ps Problems
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var typeErr *yaml.TypeError
		if !errors.As(err, &typeErr) {
			return nil, Problems{{File: file, Line: yamlErrorLine(err), Msg: err.Error()}}
		}
		for _, e := range typeErr.Errors {
			ps = append(ps, Problem{File: file, Line: yamlErrorLine(errors.New(e)), Msg: stripLinePrefix(e)})
		}
	}
	for _, p := range validate(&c) {
		p.File, p.Line = file, lines.find(p.path)
		ps = append(ps, p)
	}
	if len(ps) > 0 {
		slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
		return nil, ps
	}
	return &c, nil
}

// Action returns the named action.
func (c *Catalogue) Action(name string) (Action, bool) {
	for _, a := range c.Actions {
		if a.Name == name {
			return a, true
		}
	}
	return Action{}, false
}

// HasClusterActions reports whether any action is bound cluster-wide, which is what makes the
// controller need ClusterRoleBindings at all.
func (c *Catalogue) HasClusterActions() bool {
	return slices.ContainsFunc(c.Actions, func(a Action) bool { return a.Scope == Cluster })
}

// PolicyRules returns the action's rules as RBAC PolicyRules, each list sorted so that output is stable.
func (a Action) PolicyRules() []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, 0, len(a.Rules))
	for _, r := range a.Rules {
		out = append(out, rbacv1.PolicyRule{
			APIGroups:     sorted(r.APIGroups),
			Resources:     sorted(r.Resources),
			Verbs:         sorted(r.Verbs),
			ResourceNames: sorted(r.ResourceNames),
		})
	}
	return out
}

func sorted(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func stripLinePrefix(msg string) string {
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		return msg[i+2:]
	}
	return msg
}

// nameRule is the rule for parameter and context field names: lowerCamelCase letters and digits. Such
// a name is a Tekton param name, a suffix of an environment variable name (KUBERNAUT_PARAM_<name>) and
// a Rego object key as it stands.
const nameRule = `[a-z][a-zA-Z0-9]*`

// Placeholder matches a reference to a parameter in a command element, `$(params.<name>)`, with the
// name as its one submatch. It matches only names the parameter-name rule allows, so what validation
// reads as a reference is exactly what Substitute replaces; validation refuses any other "$(".
var Placeholder = regexp.MustCompile(`\$\(params\.(` + nameRule + `)\)`)

// Substitute replaces every placeholder in a command element with value(name), within the element:
// the result is one argv element whatever the values hold, never joined into a shell string.
func Substitute(arg string, value func(name string) string) string {
	return Placeholder.ReplaceAllStringFunc(arg, func(ref string) string {
		return value(Placeholder.FindStringSubmatch(ref)[1])
	})
}

// ClusterScopedResources are the built-in cluster-scoped resources (<plural> or <plural>.<group>) the
// catalogue refuses in a Namespaced action, generated from the discovery documents k8s.io/kubernetes
// ships.
func ClusterScopedResources() []string { return slices.Clone(clusterScopedResources) }

// Target is the object an action's command addresses, as <kind>/$(params.<parameter>).
type Target struct {
	// Kind is kubectl's name for it (pod, deployment, ...); Group and Resource its API resource.
	Kind, Group, Resource string
	// Parameter names the object.
	Parameter string
}

// targetKinds are the kinds a command may address by name, with their API resources.
var targetKinds = map[string][2]string{
	"configmap":   {"", "configmaps"},
	"daemonset":   {"apps", "daemonsets"},
	"deployment":  {"apps", "deployments"},
	"node":        {"", "nodes"},
	"pod":         {"", "pods"},
	"statefulset": {"apps", "statefulsets"},
}

var targetArg = regexp.MustCompile(`^([a-z]+)/` + Placeholder.String() + `$`)

// Target is the object a's command acts on, when it names one (custom-script lists by selector).
func (a Action) Target() (Target, bool) {
	for _, arg := range a.Command {
		m := targetArg.FindStringSubmatch(arg)
		if m == nil {
			continue
		}
		if gr, ok := targetKinds[m[1]]; ok {
			return Target{Kind: m[1], Group: gr[0], Resource: gr[1], Parameter: m[2]}, true
		}
	}
	return Target{}, false
}

// ReadsTarget reports whether a run's controller reads the target object for the gate's target
// context: for the action's context fields, or for a cluster-scoped target's labels (a node's role).
// Others are only the namespace's business: the run contract checks the object's own opt-out.
func (a Action) ReadsTarget() bool {
	_, ok := a.Target()
	return ok && (len(a.Context) > 0 || a.Scope == Cluster)
}
