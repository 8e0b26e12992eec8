// Package policy turns policies/ into the policy ConfigMap's files and the per-action input schemas.
// It refuses an action without a policy or without tests, a policy in the wrong package or in OPA v0
// syntax, a policy for no action, and a ConfigMap over its size budget.
package policy

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/catalogue/steps"
)

// Repository layout, relative to the repository root: the policies of the shipped catalogue, their
// shared library (lib/ under the policies directory) and the generated input schemas. The schemas sit
// outside policies/ because `opa test policies/` loads every .json under it as data.
const (
	Dir       = "policies"
	LibDir    = "lib"
	SchemaDir = "policy-schemas"
)

// ConfigMap keys that cannot clash with an action's `<action>.rego`: action names are DNS labels,
// which never start with "_". Package steps owns them: the gate steps and execution/gate read them.
const (
	LibKeyPrefix  = steps.LibKeyPrefix
	CatalogueKey  = steps.CatalogueKey
	testSuffix    = "_test.rego"
	regoExtension = ".rego"
)

// Size budget of the ConfigMap. Client-side apply (and Argo CD without server-side apply) copies the
// object into a 256 KiB annotation; the API server refuses a ConfigMap over 1 MiB.
const (
	WarnBytes = 200 << 10
	MaxBytes  = 900 << 10
)

// Package is the Rego package of an action's policy: hyphens cannot appear in a package name
// (data.kubernaut.scale-deployment parses as a subtraction).
func Package(action string) string { return "kubernaut.actions." + underscored(action) }

// SchemaName is the name under which an action's input schema is known to OPA: schema.<name>.
func SchemaName(action string) string { return underscored(action) }

func underscored(action string) string { return strings.ReplaceAll(action, "-", "_") }

// Bundle is what the generator writes from policies/.
type Bundle struct {
	// ConfigMap maps ConfigMap keys to file contents.
	ConfigMap map[string][]byte
	// Schemas maps schema file names (<SchemaName>.json) to JSON Schemas of each action's input.
	Schemas map[string][]byte
	// Warnings are problems that do not stop generation (a ConfigMap near its size limit).
	Warnings []string
}

// Build reads the policies in dir (and dir/lib) for the actions of cat.
func Build(cat *catalogue.Catalogue, dir string) (Bundle, error) {
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	b := Bundle{ConfigMap: map[string][]byte{}, Schemas: map[string][]byte{}}

	read := func(rel string) []byte {
		data, err := os.ReadFile(rel)
		if err != nil {
			fail("%s: %v", rel, err)
			return nil
		}
		return data
	}
	// parse checks a policy or test file: OPA 1.x syntax, the expected package when one is given, and
	// at least one test_ rule in a test file.
	parse := func(rel string, data []byte, wantPackage string) {
		mod, err := ast.ParseModuleWithOpts(rel, string(data), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			fail("%s: not OPA 1.x Rego: %v", rel, err)
			return
		}
		pkg := strings.TrimPrefix(mod.Package.Path.String(), "data.")
		if wantPackage != "" && pkg != wantPackage {
			fail("%s: package %s, want %s", rel, pkg, wantPackage)
		}
		if strings.HasSuffix(rel, testSuffix) && !slices.ContainsFunc(mod.Rules, func(r *ast.Rule) bool {
			return strings.HasPrefix(r.Head.Name.String(), "test_")
		}) {
			fail("%s: no test_ rule", rel)
		}
	}
	// withTests reads a policy and its tests; the policy is what ships.
	withTests := func(rel, wantPackage string) []byte {
		policy := read(rel)
		testRel := strings.TrimSuffix(rel, regoExtension) + testSuffix
		tests := read(testRel)
		if policy != nil {
			parse(rel, policy, wantPackage)
		}
		if tests != nil {
			parse(testRel, tests, "")
		}
		return policy
	}

	for _, a := range cat.Actions {
		if data := withTests(filepath.Join(dir, a.Name+regoExtension), Package(a.Name)); data != nil {
			b.ConfigMap[a.Name+regoExtension] = data
		}
		schema, err := inputSchema(a)
		if err != nil {
			fail("schema of %s: %v", a.Name, err)
		}
		b.Schemas[SchemaName(a.Name)+".json"] = schema
	}
	libDir := filepath.Join(dir, LibDir)
	libs, err := policyFiles(libDir)
	if err != nil {
		fail("%s: %v", libDir, err)
	}
	if len(libs) == 0 {
		fail("%s: no library policies", libDir)
	}
	for _, name := range libs {
		if data := withTests(filepath.Join(libDir, name), ""); data != nil {
			b.ConfigMap[LibKeyPrefix+name] = data
		}
	}
	top, err := policyFiles(dir)
	if err != nil {
		fail("%s: %v", dir, err)
	}
	for _, name := range top {
		if _, ok := cat.Action(strings.TrimSuffix(name, regoExtension)); !ok {
			fail("%s: policy for an action the catalogue does not have", filepath.Join(dir, name))
		}
	}
	data, err := catalogueData(cat)
	if err != nil {
		fail("catalogue data: %v", err)
	}
	b.ConfigMap[CatalogueKey] = data

	if len(problems) == 0 {
		b.Warnings, err = budget(b.ConfigMap)
		if err != nil {
			return Bundle{}, err
		}
	}
	if len(problems) > 0 {
		return Bundle{}, fmt.Errorf("invalid policies: %d problem(s)\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return b, nil
}

// policyFiles lists the policies (not tests) directly in dir.
func policyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), regoExtension) && !strings.HasSuffix(e.Name(), testSuffix) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// budget warns above WarnBytes and refuses above MaxBytes, naming the largest files.
func budget(files map[string][]byte) ([]string, error) {
	type sized struct {
		key  string
		size int
	}
	var all []sized
	total := 0
	for k, v := range files {
		all = append(all, sized{k, len(v)})
		total += len(v)
	}
	slices.SortFunc(all, func(a, b sized) int { return cmp.Or(b.size-a.size, cmp.Compare(a.key, b.key)) })
	var largest []string
	for _, s := range all[:min(3, len(all))] {
		largest = append(largest, fmt.Sprintf("%s (%d KiB)", s.key, s.size>>10))
	}
	switch {
	case total > MaxBytes:
		return nil, fmt.Errorf("policy ConfigMap is %d KiB, over the %d KiB limit (a ConfigMap holds at most 1 MiB); largest: %s",
			total>>10, MaxBytes>>10, strings.Join(largest, ", "))
	case total > WarnBytes:
		return []string{fmt.Sprintf("policy ConfigMap is %d KiB, over %d KiB: client-side apply and Argo CD without ServerSideApply=true fail at 256 KiB; largest: %s",
			total>>10, WarnBytes>>10, strings.Join(largest, ", "))}, nil
	}
	return nil, nil
}

// catalogueData is the part of the catalogue the gate reads, as an OPA data document at
// data.kubernaut.catalogue: approval defaults, parameter constraints and context fields.
func catalogueData(cat *catalogue.Catalogue) ([]byte, error) {
	type action struct {
		Scope      catalogue.Scope                   `json:"scope"`
		Approval   bool                              `json:"approval"`
		DryRun     bool                              `json:"dryRun"`
		Parameters map[string]catalogue.Parameter    `json:"parameters"`
		Context    map[string]catalogue.ContextField `json:"context"`
	}
	actions := map[string]action{}
	for _, a := range cat.Actions {
		out := action{Scope: a.Scope, Approval: a.Approval, DryRun: a.DryRun.Supported,
			Parameters: map[string]catalogue.Parameter{}, Context: map[string]catalogue.ContextField{}}
		for _, p := range a.Parameters {
			out.Parameters[p.Name] = p
		}
		for _, f := range a.Context {
			out.Context[f.Name] = f
		}
		actions[a.Name] = out
	}
	doc := map[string]any{"kubernaut": map[string]any{"catalogue": map[string]any{"actions": actions, "environments": Environments}}}
	data, err := json.MarshalIndent(doc, "", "  ")
	return append(data, '\n'), err
}
