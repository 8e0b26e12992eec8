package tests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/internal/policy"
	"github.com/jordigilh/kubernaut-execution/internal/tekton"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// BenchmarkGateDecision measures one prepared decision of the gate for each action, through OPA's Go
// library, on the rendered ConfigMap's files: what a controller embedding the gate would pay per run.
func BenchmarkGateDecision(b *testing.B) {
	dir := policyFiles(b)
	var target map[string]any
	require.NoError(b, json.Unmarshal([]byte(validParams["target"]), &target))
	for _, a := range testenv.Catalogue(b).Actions {
		files := []string{filepath.Join(dir, "_lib.rego"), filepath.Join(dir, "_gate.rego"), filepath.Join(dir, policy.CatalogueKey), filepath.Join(dir, policy.ConfigKey), filepath.Join(dir, a.Name+".rego")}
		for _, f := range files {
			_, err := os.Stat(f)
			require.NoError(b, err)
		}
		params := map[string]any{}
		for _, p := range a.Parameters {
			params[p.Name] = paramsFor(a.Name)[p.Name]
		}
		input := map[string]any{"action": a.Name, "parameters": params, "target": target}
		ctx := context.Background()
		prepared, err := rego.New(rego.Query("data.kubernaut.gate.decision"), rego.Load(files, nil)).PrepareForEval(ctx)
		require.NoError(b, err)
		b.Run(a.Name, func(b *testing.B) {
			for b.Loop() {
				rs, err := prepared.Eval(ctx, rego.EvalInput(input))
				if err != nil || len(rs) != 1 || rs[0].Expressions[0].Value.(map[string]any)["allowed"] != true {
					b.Fatalf("decision: %v %v", rs, err)
				}
			}
		})
	}
}

// BenchmarkGateStepCLI measures one policy-gate step as the Task runs it: a fresh opa process that
// loads the policy files and decides.
func BenchmarkGateStepCLI(b *testing.B) {
	dir := policyFiles(b)
	task := tasks(b, defaultRender(b))[tekton.TaskName("scale-deployment")]
	for b.Loop() {
		if code, out := runStep(b, task, tekton.StepPolicyGate, validParams, dir); code != 0 {
			b.Fatalf("policy gate exited %d: %s", code, out)
		}
	}
}
