package tests

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"
	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/policy"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

var policiesDir = filepath.Join(root, policy.Dir)

// regoOnly makes OPA's loader read policies only.
func regoOnly(_ string, info fs.FileInfo, _ int) bool {
	return !info.IsDir() && !strings.HasSuffix(info.Name(), ".rego")
}

// The commands an action author types work as they are: the pinned opa CLI tests the policies and the
// conformance rules (with coverage) and checks the policies strictly against their input schemas.
func TestOPACommandLine(t *testing.T) {
	bin, err := opaBinary()
	require.NoError(t, err)
	for _, args := range [][]string{
		{"test", "--coverage", "--threshold", "100", policy.Dir},
		{"test", "--coverage", "--threshold", "100", filepath.Join("internal", "check", "rules")},
		{"check", "--strict", "--schema", policy.SchemaDir, policy.Dir},
		{"fmt", "--fail", "--list", policy.Dir, filepath.Join("internal", "check", "rules")},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "opa %s:\n%s", strings.Join(args, " "), out)
	}
}

// `opa test policies/` through OPA's Go tester: every test passes and every policy file, library
// included, is covered line for line.
func TestPoliciesPassWithFullCoverage(t *testing.T) {
	require.Equal(t, 10+2, requireRegoTests(t, policiesDir), "every action's policy plus the library and the gate")
}

// requireRegoTests runs the Rego tests under dir like `opa test --coverage`, requires every test to
// pass and every non-test file to be fully covered, and returns how many non-test files there are.
func requireRegoTests(t *testing.T, dir string) int {
	t.Helper()
	modules, store, err := tester.LoadWithParserOptions([]string{dir}, regoOnly, ast.ParserOptions{RegoVersion: ast.RegoV1})
	require.NoError(t, err)
	cov := cover.New()
	ctx := context.Background()
	txn, err := store.NewTransaction(ctx)
	require.NoError(t, err)
	defer store.Abort(ctx, txn)
	// Print statements on, as `opa test` has them: the gate prints its decision to the step log.
	results, err := tester.NewRunner().SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).CapturePrintOutput(true).SetStore(store).
		SetModules(modules).SetCoverageQueryTracer(cov).RunTests(ctx, txn)
	require.NoError(t, err)
	passed := 0
	for r := range results {
		require.NoError(t, r.Error, r.Name)
		require.False(t, r.Fail, "%s failed", r.Name)
		passed++
	}
	require.Positive(t, passed)

	files := 0
	for file, fr := range cov.Report(modules).Files {
		if strings.HasSuffix(file, "_test.rego") {
			continue
		}
		files++
		require.Equal(t, 100.0, fr.Coverage, "%s: lines not covered by tests: %v", file, fr.NotCovered)
	}
	return files
}

// Each action's policy is type-checked against the input schema the generator writes for it (what
// `opa check --strict --schema policy-schemas policies` does): reading a field the input never has fails.
func TestPoliciesMatchTheirInputSchemas(t *testing.T) {
	require.NoError(t, typeCheck(t, nil))
}

func TestTypeCheckRejectsAFieldTheInputNeverHas(t *testing.T) {
	err := typeCheck(t, map[string]func(string) string{
		"scale-deployment.rego": func(s string) string {
			return strings.Replace(s, "input.target.currentReplicas < 10", "input.target.currentReplica < 10", 1)
		},
	})
	require.ErrorContains(t, err, "undefined ref: input.target.currentReplica")

	err = typeCheck(t, map[string]func(string) string{
		"drain-node.rego": func(s string) string {
			return strings.Replace(s, "input.parameters.node", "input.parameters.nodeName", 1)
		},
	})
	require.ErrorContains(t, err, "undefined ref: input.parameters.nodeName")
}

// typeCheck compiles the policies (with edits applied to named files) against the generated schemas.
func typeCheck(t *testing.T, edits map[string]func(string) string) error {
	t.Helper()
	schemas := ast.NewSchemaSet()
	files, err := filepath.Glob(filepath.Join(root, policy.SchemaDir, "*.json"))
	require.NoError(t, err)
	require.Len(t, files, len(testenv.Catalogue(t).Actions), "one input schema per action")
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var schema any
		require.NoError(t, util.Unmarshal(data, &schema))
		schemas.Put(ast.MustParseRef("schema."+strings.TrimSuffix(filepath.Base(f), ".json")), schema)
	}
	modules := map[string]*ast.Module{}
	require.NoError(t, filepath.WalkDir(policiesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(data)
		if edit, ok := edits[filepath.Base(path)]; ok {
			src = edit(src)
			require.NotEqual(t, string(data), src, "edit of %s changed nothing", path)
		}
		mod, err := ast.ParseModuleWithOpts(path, src, ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		modules[path] = mod
		return err
	}))
	c := ast.NewCompiler().WithSchemas(schemas).WithUseTypeCheckAnnotations(true).WithStrict(true)
	if c.Compile(modules); c.Failed() {
		return c.Errors
	}
	return nil
}
