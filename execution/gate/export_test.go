package gate

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// PrepareQuery prepares a query over what an action's steps load, as Decide does, for the rule
// breakdown benchmark.
func (g *Gate) PrepareQuery(ctx context.Context, action, query string) (rego.PreparedEvalQuery, error) {
	compile, err := g.compiler(action)
	if err != nil {
		return rego.PreparedEvalQuery{}, err
	}
	return compile(ctx, query)
}

// Input is the input Decide evaluates for a run.
func (g *Gate) Input(r Run) (ast.Value, error) { return g.input(r) }
