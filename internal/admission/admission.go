// Package admission turns each catalogue action's admission contract into the CEL rules of the
// run-contract ValidatingAdmissionPolicy: which changing requests a run identity of that action may
// make, which fields an UPDATE may change, and the action's own validations.
//
// The chart's template supplies what is release-dependent (which identities, which namespaces, the
// kill switch) and the shared variables the rules read; this package writes only the per-action part,
// computed once from the catalogue, so the policy and the catalogue cannot drift.
//
// Variables the rules use, defined by the template: variables.action (the action of the requesting
// run identity), variables.request (catalogue.RequestKey of the request), variables.new and
// variables.old (object and oldObject as dyn).
package admission

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/jordigilh/kubernaut-execution/catalogue"
)

// Data is the generated file files/run-contract.json.
type Data struct {
	// Requests are, per action, the request keys its identity may make (group/resource[/sub]/OP).
	// Read-only actions have an empty list: any changing request of theirs is refused.
	Requests map[string][]string `json:"requests"`
	// Rules are the per-action validations, each already guarded so that it applies only to its
	// action's requests of its kind.
	Rules []Rule `json:"rules"`
}

// Rule is one validation of the policy.
type Rule struct {
	Expression string `json:"expression"`
	Message    string `json:"message"`
}

// Compute builds the contract data of every action, in catalogue order.
func Compute(cat *catalogue.Catalogue) Data {
	d := Data{Requests: map[string][]string{}}
	for _, a := range cat.Actions {
		keys := []string{}
		params := map[string]catalogue.Parameter{}
		for _, p := range a.Parameters {
			params[p.Name] = p
		}
		for _, r := range a.Admission {
			keys = append(keys, r.Keys()...)
			d.Rules = append(d.Rules, requestRules(a, r, params)...)
		}
		slices.Sort(keys)
		d.Requests[a.Name] = keys
	}
	return d
}

func requestRules(a catalogue.Action, r catalogue.Request, params map[string]catalogue.Parameter) []Rule {
	var out []Rule
	guard := func(keys []string, expr string) string {
		return fmt.Sprintf("variables.action != %s || !(variables.request in %s) ||\n(%s)", quote(a.Name), list(keys), expr)
	}
	what := r.Resource
	if r.APIGroup != "" {
		what += "." + r.APIGroup
	}
	if slices.Contains(r.Operations, "UPDATE") {
		update := []string{catalogue.RequestKey(r.APIGroup, r.Resource, "UPDATE")}
		paths := make([]string, 0, len(r.MayChange))
		for _, c := range r.MayChange {
			paths = append(paths, c.Path)
		}
		allowed := "nothing"
		if len(paths) > 0 {
			allowed = strings.Join(paths, ", ")
		}
		out = append(out, Rule{
			Expression: guard(update, Unchanged(paths)),
			Message:    fmt.Sprintf("a %s run may change only %s of %s; everything else must stay as it was", a.Name, allowed, what),
		})
		for _, c := range r.MayChange {
			if c.Parameter == "" {
				continue
			}
			if expr, ok := bound(c.Path, params[c.Parameter]); ok {
				out = append(out, Rule{
					Expression: guard(update, expr),
					Message:    fmt.Sprintf("a %s run may set %s only as parameter %s allows", a.Name, c.Path, c.Parameter),
				})
			}
		}
	}
	for _, v := range r.Validations {
		out = append(out, Rule{Expression: guard(r.Keys(), strings.TrimSpace(v.Expression)), Message: fmt.Sprintf("%s: %s", a.Name, v.Message)})
	}
	return out
}

// bound is the rule that the field at path meets parameter p's constraints.
func bound(path string, p catalogue.Parameter) (string, bool) {
	field := "variables.new." + path
	var conds []string
	if p.Minimum != nil {
		conds = append(conds, fmt.Sprintf("%s >= %d", field, *p.Minimum))
	}
	if p.Maximum != nil {
		conds = append(conds, fmt.Sprintf("%s <= %d", field, *p.Maximum))
	}
	if p.Pattern != "" {
		conds = append(conds, fmt.Sprintf("string(%s).matches(%s)", field, quote(p.Pattern)))
	}
	if len(p.Enum) > 0 {
		conds = append(conds, fmt.Sprintf("string(%s) in %s", field, list(p.Enum)))
	}
	if len(conds) == 0 {
		return "", false
	}
	return fmt.Sprintf("!has(%s) || %s", field, strings.Join(conds, " && ")), true
}

// node is a tree of the paths an UPDATE may change.
type node struct {
	free     bool
	list     bool // a list of named elements: children apply to each element, matched by name
	children map[string]*node
}

func tree(paths []string) *node {
	root := &node{children: map[string]*node{}}
	for _, p := range paths {
		n := root
		for _, seg := range strings.Split(p, ".") {
			name, isList := strings.CutSuffix(seg, "[]")
			child, ok := n.children[name]
			if !ok {
				child = &node{children: map[string]*node{}}
				n.children[name] = child
			}
			child.list = child.list || isList
			n = child
		}
		n.free = true
	}
	return root
}

// Compared are the parts of metadata an UPDATE must leave as they were unless a path frees them: the
// rest (resourceVersion, managedFields, generation) is the API server's.
var Compared = []string{"annotations", "finalizers", "labels", "ownerReferences"}

// Unchanged is the CEL rule that variables.new equals variables.old except at paths: every top-level
// field but metadata and status, and the metadata fields in Compared.
func Unchanged(paths []string) string {
	root := tree(paths)
	g := &gen{}
	meta := root.children["metadata"]
	if meta == nil {
		meta = &node{children: map[string]*node{}}
	}
	top := maps.Clone(root.children)
	// metadata and status are compared below, or not at all; they count as handled at the top.
	top["metadata"] = &node{free: true}
	top["status"] = &node{free: true}
	parts := []string{g.object("variables.new", "variables.old", top)}
	for _, key := range Compared {
		empty := "{}"
		if key == "finalizers" || key == "ownerReferences" {
			empty = "[]"
		}
		parts = append(parts, g.value(field("variables.new.metadata", key, empty), field("variables.old.metadata", key, empty), meta.children[key]))
	}
	return strings.Join(parts, " &&\n")
}

type gen struct{ n int }

func (g *gen) fresh(prefix string) string {
	g.n++
	return prefix + strconv.Itoa(g.n)
}

// value compares two values under n (nil: must be equal).
func (g *gen) value(a, b string, n *node) string {
	switch {
	case n == nil:
		return fmt.Sprintf("%s == %s", a, b)
	case n.free:
		return "true"
	case n.list:
		x, y := g.fresh("x"), g.fresh("y")
		return fmt.Sprintf("size(%s) == size(%s) && %s.all(%s, %s.exists(%s, %s.name == %s.name && %s))",
			a, b, a, x, b, y, y, x, g.object(x, y, n.children))
	default:
		return g.object(a, b, n.children)
	}
}

// object compares two maps: keys outside children must be equal on both sides, keys in children are
// compared under them (absent counts as empty).
func (g *gen) object(a, b string, children map[string]*node) string {
	k := g.fresh("k")
	keys := slices.Sorted(maps.Keys(children))
	parts := []string{
		fmt.Sprintf("%s.all(%s, %s in %s || %s in %s && %s[%s] == %s[%s])", a, k, k, list(keys), k, b, a, k, b, k),
		fmt.Sprintf("%s.all(%s, %s in %s || %s in %s)", b, k, k, list(keys), k, a),
	}
	for _, key := range keys {
		child := children[key]
		if child.free {
			continue
		}
		empty := "{}"
		if child.list {
			empty = "[]"
		}
		// Bound through one-element lists, CEL's let: the rule grows with the depth of the paths,
		// not with the square of it.
		x, y := g.fresh("a"), g.fresh("b")
		parts = append(parts, fmt.Sprintf("[%s].all(%s, [%s].all(%s, %s))",
			field(a, key, empty), x, field(b, key, empty), y, g.value(x, y, child)))
	}
	return "(" + strings.Join(parts, " && ") + ")"
}

// field is m[key], or empty when m has no such key.
func field(m, key, empty string) string {
	return fmt.Sprintf("(%s in %s ? %s[%s] : dyn(%s))", quote(key), m, m, quote(key), empty)
}

func quote(s string) string { return strconv.Quote(s) }

func list(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
