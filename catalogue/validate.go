package catalogue

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// knownVerbs are the resource verbs an action may be granted. Anything else (including the
// privilege-bearing verbs in forbiddenVerbs and custom verbs such as `use`) is refused.
var knownVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// forbiddenVerbs lead to privilege escalation whatever resource they are on.
var forbiddenVerbs = map[string]string{
	"escalate":    "lets the holder write RBAC rules with permissions it does not have",
	"bind":        "lets the holder bind roles with permissions it does not have",
	"impersonate": "lets the holder act as any user, group or ServiceAccount",
	"approve":     "lets the holder approve certificate signing requests",
}

// forbiddenResources, keyed resource.group as kubectl spells it, grant more than any remediation needs:
// reading credentials, running code in other pods, or rewriting RBAC and admission.
var forbiddenResources = map[string]string{
	"secrets":                                       "exposes credentials",
	"pods/exec":                                     "runs arbitrary code in other pods",
	"pods/attach":                                   "attaches to other pods' processes",
	"pods/portforward":                              "opens network paths past NetworkPolicy",
	"nodes/proxy":                                   "reaches the kubelet API, which bypasses authorization of pod operations",
	"services/proxy":                                "reaches services past NetworkPolicy",
	"serviceaccounts/token":                         "mints tokens for other ServiceAccounts",
	"roles.rbac.authorization.k8s.io":               "rewrites RBAC",
	"rolebindings.rbac.authorization.k8s.io":        "rewrites RBAC",
	"clusterroles.rbac.authorization.k8s.io":        "rewrites RBAC",
	"clusterrolebindings.rbac.authorization.k8s.io": "rewrites RBAC",
	"mutatingwebhookconfigurations.admissionregistration.k8s.io":     "rewrites admission",
	"validatingwebhookconfigurations.admissionregistration.k8s.io":   "rewrites admission",
	"validatingadmissionpolicies.admissionregistration.k8s.io":       "rewrites admission",
	"validatingadmissionpolicybindings.admissionregistration.k8s.io": "rewrites admission",
	"mutatingadmissionpolicies.admissionregistration.k8s.io":         "rewrites admission",
	"mutatingadmissionpolicybindings.admissionregistration.k8s.io":   "rewrites admission",
	"certificatesigningrequests/approval.certificates.k8s.io":        "approves certificates",
}

var (
	parameterName = regexp.MustCompile(`^` + nameRule + `$`)
	knownTypes    = []string{TypeBoolean, TypeInteger, TypeString}
)

// checker collects every problem instead of stopping at the first.
type checker struct{ problems Problems }

func (c *checker) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{path: path, Msg: fmt.Sprintf(format, args...)})
}

func validate(cat *Catalogue) Problems {
	c := &checker{}
	if len(cat.Actions) == 0 {
		c.add("actions", "the catalogue has no actions")
	}
	seen := map[string]int{}
	for i, a := range cat.Actions {
		path := fmt.Sprintf("actions[%d]", i)
		if first, dup := seen[a.Name]; dup {
			c.add(path+".name", "action %q: duplicate name (first at actions[%d])", a.Name, first)
		} else {
			seen[a.Name] = i
		}
		c.action(path, a)
	}
	return c.problems
}

func (c *checker) action(path string, a Action) {
	at := func(field string) string { return path + "." + field }
	if errs := validation.IsDNS1123Label(a.Name); len(errs) > 0 {
		c.add(at("name"), "action %q: name is not a DNS-1123 label: %s", a.Name, strings.Join(errs, "; "))
	}
	if strings.TrimSpace(a.Description) == "" {
		c.add(at("description"), "action %q: description is empty", a.Name)
	}
	if a.Scope != Namespaced && a.Scope != Cluster {
		c.add(at("scope"), "action %q: unknown scope %q (want %s or %s)", a.Name, a.Scope, Namespaced, Cluster)
	}
	if !a.DryRun.Supported && strings.TrimSpace(a.DryRun.Reason) == "" {
		c.add(at("dryRun"), "action %q: dryRun.reason must say why an action skips the server-side dry-run", a.Name)
	}
	if len(a.Rules) == 0 {
		c.add(at("rules"), "action %q: no rules", a.Name)
	}
	for i, r := range a.Rules {
		c.rule(fmt.Sprintf("%s.rules[%d]", path, i), a, r)
	}
	params := map[string]Parameter{}
	for i, p := range a.Parameters {
		ppath := fmt.Sprintf("%s.parameters[%d]", path, i)
		if _, dup := params[p.Name]; dup {
			c.add(ppath+".name", "action %q: duplicate parameter %q", a.Name, p.Name)
		}
		params[p.Name] = p
		c.parameter(ppath, a.Name, p)
	}
	c.command(at("command"), a, params)
	c.admission(at("admission"), a, params)
	seenContext := map[string]bool{}
	for i, f := range a.Context {
		fpath := fmt.Sprintf("%s.context[%d]", path, i)
		switch {
		case !parameterName.MatchString(f.Name):
			c.add(fpath+".name", "action %q: context field name %q must be lowerCamelCase letters and digits", a.Name, f.Name)
		case slices.Contains(reservedContext, f.Name):
			c.add(fpath+".name", "action %q: context field %q is part of every target already", a.Name, f.Name)
		case seenContext[f.Name]:
			c.add(fpath+".name", "action %q: duplicate context field %q", a.Name, f.Name)
		}
		seenContext[f.Name] = true
		if !slices.Contains(knownTypes, f.Type) {
			c.add(fpath+".type", "action %q: context field %q: unknown type %q (want %s)", a.Name, f.Name, f.Type, strings.Join(knownTypes, ", "))
		}
		if strings.TrimSpace(f.Description) == "" {
			c.add(fpath+".description", "action %q: context field %q: description is empty", a.Name, f.Name)
		}
		if f.Example != "" {
			if err := (Parameter{Type: f.Type}).Accepts(f.Example); err != nil {
				c.add(fpath+".example", "action %q: context field %q: example %q: %v", a.Name, f.Name, f.Example, err)
			}
		}
	}
}

// reservedContext are the target fields every action's input has.
var reservedContext = []string{"environment", "labels"}

func (c *checker) rule(path string, a Action, r Rule) {
	fields := []struct {
		name   string
		values []string
	}{{"apiGroups", r.APIGroups}, {"resources", r.Resources}, {"verbs", r.Verbs}}
	for _, f := range fields {
		if len(f.values) == 0 {
			c.add(path+"."+f.name, "action %q: rule has no %s", a.Name, f.name)
		}
		for i, v := range f.values {
			if strings.Contains(v, "*") {
				c.add(fmt.Sprintf("%s.%s[%d]", path, f.name, i), "action %q: %q in %s: wildcards grant everything, now and in future API versions; list what the command needs", a.Name, v, f.name)
			}
		}
	}
	for verb, why := range r.OtherPaths {
		if !slices.Contains(r.Verbs, verb) {
			c.add(path+".otherPaths", "action %q: otherPaths names %q, which is not a verb of this rule", a.Name, verb)
		}
		if strings.TrimSpace(why) == "" {
			c.add(path+".otherPaths", "action %q: otherPaths gives no reason for %q", a.Name, verb)
		}
	}
	if len(r.NonResourceURLs) > 0 {
		c.add(path+".nonResourceURLs", "action %q: nonResourceURLs cannot be granted through a RoleBinding and no action needs them", a.Name)
	}
	for i, v := range r.Verbs {
		vpath := fmt.Sprintf("%s.verbs[%d]", path, i)
		switch why, forbidden := forbiddenVerbs[v]; {
		case forbidden:
			c.add(vpath, "action %q: verb %q is forbidden: it %s", a.Name, v, why)
		case !slices.Contains(knownVerbs, v) && !strings.Contains(v, "*"):
			c.add(vpath, "action %q: unknown verb %q (known: %s)", a.Name, v, strings.Join(knownVerbs, ", "))
		}
	}
	for i, res := range r.Resources {
		rpath := fmt.Sprintf("%s.resources[%d]", path, i)
		for _, g := range r.APIGroups {
			key := qualified(res, g)
			if why, forbidden := forbiddenResources[key]; forbidden {
				c.add(rpath, "action %q: resource %q is forbidden: it %s", a.Name, key, why)
			}
			if a.Scope == Namespaced && slices.Contains(clusterScopedResources, key) {
				c.add(rpath, "action %q: resource %q is cluster-scoped; a Namespaced action cannot be granted it (use scope: Cluster)", a.Name, key)
			}
		}
	}
}

// ForbiddenVerbs are the verbs no action may be granted, sorted; the conformance rules read them too.
func ForbiddenVerbs() []string { return slices.Sorted(maps.Keys(forbiddenVerbs)) }

// ForbiddenResources are the resources (resource[/subresource][.group]) no action may be granted, sorted.
func ForbiddenResources() []string { return slices.Sorted(maps.Keys(forbiddenResources)) }

// qualified spells a resource the way kubectl does: resource[/subresource][.group].
func qualified(resource, group string) string {
	if group == "" {
		return resource
	}
	return resource + "." + group
}

func (c *checker) parameter(path, action string, p Parameter) {
	if !parameterName.MatchString(p.Name) {
		c.add(path+".name", "action %q: parameter name %q must be lowerCamelCase letters and digits", action, p.Name)
	}
	if !slices.Contains(knownTypes, p.Type) {
		c.add(path+".type", "action %q: parameter %q: unknown type %q (want %s)", action, p.Name, p.Type, strings.Join(knownTypes, ", "))
	}
	if strings.TrimSpace(p.Description) == "" {
		c.add(path+".description", "action %q: parameter %q: description is empty", action, p.Name)
	}
	if p.Pattern != "" {
		if p.Type != TypeString {
			c.add(path+".pattern", "action %q: parameter %q: pattern applies to strings only", action, p.Name)
		}
		if _, err := regexp.Compile(p.Pattern); err != nil {
			c.add(path+".pattern", "action %q: parameter %q: pattern does not compile: %v", action, p.Name, err)
		}
	}
	if (p.Minimum != nil || p.Maximum != nil) && p.Type != TypeInteger {
		c.add(path, "action %q: parameter %q: minimum and maximum apply to integers only", action, p.Name)
	}
	if p.Minimum != nil && p.Maximum != nil && *p.Minimum > *p.Maximum {
		c.add(path+".minimum", "action %q: parameter %q: minimum %d is above maximum %d", action, p.Name, *p.Minimum, *p.Maximum)
	}
	if len(p.Enum) > 0 && p.Type != TypeString {
		c.add(path+".enum", "action %q: parameter %q: enum applies to strings only", action, p.Name)
	}
	for i, v := range p.Enum {
		if v == "" || strings.HasPrefix(v, "-") {
			c.add(fmt.Sprintf("%s.enum[%d]", path, i), "action %q: parameter %q: enum value %q is empty or could be read as a flag", action, p.Name, v)
		}
	}
	if p.Example != "" {
		if err := p.Accepts(p.Example); err != nil {
			c.add(path+".example", "action %q: parameter %q: example %q: %v", action, p.Name, p.Example, err)
		}
	}
}

// Accepts reports why a value does not meet the parameter's type, range, enum and pattern, as the
// policy gate's parameter checks would refuse it (policies/lib/gate.rego); nil when it does.
func (p Parameter) Accepts(v string) error {
	if strings.HasPrefix(v, "-") {
		return fmt.Errorf("must not start with \"-\"")
	}
	switch p.Type {
	case TypeInteger:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		if p.Minimum != nil && n < *p.Minimum || p.Maximum != nil && n > *p.Maximum {
			return fmt.Errorf("outside %s", bounds(p.Minimum, p.Maximum))
		}
	case TypeBoolean:
		if v != "true" && v != "false" {
			return fmt.Errorf("not true or false")
		}
	}
	if len(p.Enum) > 0 && !slices.Contains(p.Enum, v) {
		return fmt.Errorf("not one of %v", p.Enum)
	}
	if p.Pattern != "" {
		if re, err := regexp.Compile(p.Pattern); err == nil && !re.MatchString(v) {
			return fmt.Errorf("does not match %s", p.Pattern)
		}
	}
	return nil
}

func bounds(lo, hi *int64) string {
	text := func(n *int64, none string) string {
		if n == nil {
			return none
		}
		return strconv.FormatInt(*n, 10)
	}
	return "[" + text(lo, "-inf") + ", " + text(hi, "+inf") + "]"
}

func (c *checker) command(path string, a Action, params map[string]Parameter) {
	if len(a.Command) == 0 || a.Command[0] != "kubectl" {
		c.add(path, "action %q: command must be a kubectl argv starting with \"kubectl\"", a.Name)
	}
	used := map[string]bool{}
	for i, arg := range a.Command {
		apath := fmt.Sprintf("%s[%d]", path, i)
		if strings.HasPrefix(arg, "--dry-run") {
			c.add(apath, "action %q: the runner adds --dry-run=server itself; the command must not set it", a.Name)
		}
		// Whatever Placeholder does not read as a reference is left as it is by Substitute: refuse it
		// here rather than run kubectl with a literal "$(params....)".
		rest := Placeholder.ReplaceAllString(arg, "")
		if strings.Contains(rest, "$(") {
			c.add(apath, "action %q: malformed placeholder in %q (want $(params.<name>), the name lowerCamelCase letters and digits)", a.Name, arg)
		}
		for _, m := range Placeholder.FindAllStringSubmatch(arg, -1) {
			name := m[1]
			used[name] = true
			p, declared := params[name]
			if !declared {
				c.add(apath, "action %q: command uses parameter %q, which is not declared", a.Name, name)
				continue
			}
			// A whole argument taken from a parameter could be a flag (`--all`); only a closed set of
			// values that cannot start with "-" may stand alone.
			if arg == m[0] && len(p.Enum) == 0 {
				c.add(apath, "action %q: parameter %q is a whole argument and could become a flag; address objects as kind/$(params.%s) or pass --flag=$(params.%s)", a.Name, name, name, name)
			}
		}
	}
	for i, p := range a.Parameters {
		if !used[p.Name] {
			c.add(fmt.Sprintf("%s.parameters[%d].name", strings.TrimSuffix(path, ".command"), i), "action %q: parameter %q is declared but the command never uses it", a.Name, p.Name)
		}
	}
	if a.Scope == Namespaced && !slices.Contains(a.Command, "--namespace=$(params."+NamespaceParameter+")") {
		c.add(path, "action %q: a Namespaced action must declare parameter %q and pass --namespace=$(params.%s): its RoleBinding is made in that namespace", a.Name, NamespaceParameter, NamespaceParameter)
	}
}

// operationOf is the admission operation a mutating verb arrives as; reading verbs are absent.
var operationOf = map[string]string{
	"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE", "deletecollection": "DELETE",
}

// changePath is a MayChange path: dot-separated keys, each optionally a list of named elements ([]).
var changePath = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*(\[\])?(\.[a-zA-Z][a-zA-Z0-9-]*(\[\])?)*$`)

// MutatingOperations are the admission operations a rule's verbs grant on each of its resources,
// keyed RequestKey(group, resource, operation), sorted.
func (a Action) MutatingOperations() []string {
	var out []string
	for _, r := range a.Rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					// A forbidden resource or a wildcard is refused on its own; it needs no contract.
					if _, forbidden := forbiddenResources[qualified(res, g)]; forbidden || strings.Contains(g+res+v, "*") {
						continue
					}
					if op, ok := operationOf[v]; ok {
						out = append(out, RequestKey(g, res, op))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RequestKey names one kind of request as the admission policy spells it: group/resource[/sub]/OP.
func RequestKey(group, resource, operation string) string {
	return group + "/" + resource + "/" + operation
}

// Keys are the request keys this entry admits.
func (r Request) Keys() []string {
	out := make([]string, 0, len(r.Operations))
	for _, op := range r.Operations {
		out = append(out, RequestKey(r.APIGroup, r.Resource, op))
	}
	return out
}

// admission checks that every changing verb the rules grant is covered by exactly what the contract
// admits, and that each entry is well formed. A mutating action without a contract is refused here, so
// the generator never ships one that admission would not bound.
func (c *checker) admission(path string, a Action, params map[string]Parameter) {
	granted := a.MutatingOperations()
	admitted := map[string]string{}
	for i, r := range a.Admission {
		rpath := fmt.Sprintf("%s[%d]", path, i)
		if r.Resource == "" || strings.Contains(r.Resource, "*") {
			c.add(rpath+".resource", "action %q: admission entry needs a resource, without wildcards", a.Name)
		}
		if len(r.Operations) == 0 {
			c.add(rpath+".operations", "action %q: admission entry %s has no operations", a.Name, r.Resource)
		}
		for _, op := range r.Operations {
			key := RequestKey(r.APIGroup, r.Resource, op)
			if !slices.Contains([]string{"CREATE", "UPDATE", "DELETE"}, op) {
				c.add(rpath+".operations", "action %q: unknown admission operation %q (want CREATE, UPDATE or DELETE)", a.Name, op)
			} else if !slices.Contains(granted, key) {
				c.add(rpath+".operations", "action %q: admission admits %s, which no rule grants", a.Name, key)
			}
			if first, dup := admitted[key]; dup {
				c.add(rpath+".operations", "action %q: %s is admitted twice (first at %s)", a.Name, key, first)
			}
			admitted[key] = rpath
		}
		if len(r.MayChange) > 0 && !slices.Contains(r.Operations, "UPDATE") {
			c.add(rpath+".mayChange", "action %q: mayChange applies to UPDATE only", a.Name)
		}
		for j, ch := range r.MayChange {
			cpath := fmt.Sprintf("%s.mayChange[%d]", rpath, j)
			if !changePath.MatchString(ch.Path) {
				c.add(cpath+".path", "action %q: mayChange path %q is not dot-separated keys (name[] for a list of named elements)", a.Name, ch.Path)
			}
			if ch.Parameter == "" {
				continue
			}
			p, ok := params[ch.Parameter]
			switch {
			case !ok:
				c.add(cpath+".parameter", "action %q: mayChange %s names parameter %q, which is not declared", a.Name, ch.Path, ch.Parameter)
			case strings.Contains(ch.Path, "[]"):
				c.add(cpath+".parameter", "action %q: mayChange %s: a parameter binds a single field, not one inside a list", a.Name, ch.Path)
			case p.Type == TypeBoolean:
				c.add(cpath+".parameter", "action %q: mayChange %s: parameter %q is boolean; bind a string or integer", a.Name, ch.Path, ch.Parameter)
			}
		}
		for j, v := range r.Validations {
			vpath := fmt.Sprintf("%s.validations[%d]", rpath, j)
			if strings.TrimSpace(v.Expression) == "" || strings.TrimSpace(v.Message) == "" {
				c.add(vpath, "action %q: an admission validation needs an expression and a message", a.Name)
			}
		}
	}
	for _, key := range granted {
		if _, ok := admitted[key]; !ok {
			c.add(path, "action %q: its rules grant %s but its admission contract does not say what that request may change; add an admission entry", a.Name, key)
		}
	}
}
