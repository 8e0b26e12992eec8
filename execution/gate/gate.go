// Package gate takes the policy gate's decision in process: the same policies, library and catalogue
// data as the in-pod policy-gate and approval-gate steps, from the same policy ConfigMap content, with
// OPA's Go library and queries prepared once per action. A controller can refuse a run, or ask for
// approval, before it creates anything, and show the reasons. The in-pod gate stays the authority: it
// runs again in every TaskRun and Job.
//
// Decide mirrors the steps exactly (tests/decide_test.go runs both on the gate's test table): the
// input is what policies/lib/gate.rego builds from a step's environment, only the four files a step
// loads for the action are loaded, builtin errors are strict, and anything that would make opa exit 2
// (a missing or broken policy, an evaluation error) makes the decision NotEvaluable.
//
// This package imports OPA; the rest of package execution does not.
package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// Queries: the rules the two gate steps evaluate, without the step's print and environment plumbing.
// bothQuery answers both in one evaluation, sharing the rules they have in common (approval_reasons);
// the comprehension keeps an undefined approval_satisfied from making the whole query undefined.
const (
	decisionQuery = "data.kubernaut.gate.decision"
	approvalQuery = "data.kubernaut.gate.approval_satisfied"
	bothQuery     = "d := data.kubernaut.gate.decision; a := {true | data.kubernaut.gate.approval_satisfied}"
)

// Gate decides runs of the actions whose policies a policy ConfigMap holds.
type Gate struct {
	files map[string]string

	mu       sync.Mutex
	prepared map[string]*prepared // by action
}

type prepared struct {
	both, decision, approval rego.PreparedEvalQuery
	err                      error // why the action's policies cannot be evaluated (opa would exit 2)
}

// New is a Gate over the policy ConfigMap's data (key to file content): the policies, the catalogue
// data and the chart's configuration (protected namespaces), as the steps mount it.
func New(policyData map[string]string) *Gate {
	files := make(map[string]string, len(policyData))
	for k, v := range policyData {
		files[k] = v
	}
	return &Gate{files: files, prepared: map[string]*prepared{}}
}

// Load reads the release's policy ConfigMap, named by the contract.
func Load(ctx context.Context, client kubernetes.Interface, c *execution.Contract) (*Gate, error) {
	cm, err := client.CoreV1().ConfigMaps(c.Namespace).Get(ctx, c.PolicyConfigMap, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("policy ConfigMap %s/%s: %w", c.Namespace, c.PolicyConfigMap, err)
	}
	return New(cm.Data), nil
}

// LoadDir reads the policy ConfigMap mounted as a volume (one file per key, as the Task steps see it at
// /policies), which needs no RBAC rule. Dot-files (the kubelet's ..data links) are skipped.
func LoadDir(dir string) (*Gate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy directory: %w", err)
	}
	data := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		content, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // a kubelet directory link, not a key
		}
		data[e.Name()] = string(content)
	}
	return New(data), nil
}

// Run is one run's input to the gate, as the Task's params (or the Job's values) carry it.
type Run struct {
	Action     string
	Parameters map[string]string
	// Target is the target context as JSON (the `target` param); anything that is not a JSON object
	// is refused, as in the step.
	Target string
	// Approved: a person's ActionApproval of this run was found valid (controller.Judge). In a pod the
	// approval-gate step does not take this on trust: it reads and judges the approval itself.
	Approved bool
}

// Decision is the gate's answer for one run.
type Decision struct {
	// Allowed: the policy-gate step would pass. Refusals say why not.
	Allowed  bool     `json:"allowed"`
	Refusals []string `json:"refusals"`
	// ApprovalRequired lists why a person must approve; ApprovalSatisfied is true when none is
	// required or the run is approved: the approval-gate step would pass given that approval.
	ApprovalRequired  []string `json:"approvalRequired"`
	ApprovalSatisfied bool     `json:"approvalSatisfied"`
	// NotEvaluable is set when the policies cannot be loaded or evaluated (the steps exit 2).
	NotEvaluable string `json:"notEvaluable,omitempty"`
}

// PolicyExit and ApprovalExit are the exit codes the policy-gate and approval-gate steps would end with.
func (d Decision) PolicyExit() int {
	switch {
	case d.NotEvaluable != "":
		return steps.ExitNotEvaluable
	case !d.Allowed:
		return steps.ExitRefused
	}
	return 0
}

func (d Decision) ApprovalExit() int {
	switch {
	case d.NotEvaluable != "":
		return steps.ExitNotEvaluable
	case !d.ApprovalSatisfied:
		return steps.ExitNeedsApproval
	}
	return 0
}

// ErrNotEvaluable wraps every reason a decision could not be taken.
var ErrNotEvaluable = errors.New("policies cannot be evaluated")

// Decide evaluates one run. A Decision that is NotEvaluable comes with an error wrapping
// ErrNotEvaluable; the run must then be refused (the gate fails closed).
func (g *Gate) Decide(ctx context.Context, r Run) (Decision, error) {
	p := g.prepare(ctx, r.Action)
	if p.err != nil {
		return Decision{NotEvaluable: p.err.Error()}, fmt.Errorf("%w: action %q: %v", ErrNotEvaluable, r.Action, p.err)
	}
	input, err := g.input(r)
	if err != nil {
		return Decision{NotEvaluable: err.Error()}, fmt.Errorf("%w: %v", ErrNotEvaluable, err)
	}
	notEvaluable := func(step string, err error) (Decision, error) {
		return Decision{NotEvaluable: step + ": " + err.Error()}, fmt.Errorf("%w: action %q, %s: %v", ErrNotEvaluable, r.Action, step, err)
	}
	var d Decision
	rs, err := p.both.Eval(ctx, rego.EvalParsedInput(input))
	if err == nil && len(rs) == 1 {
		d.read(rs[0].Bindings["d"])
		set, _ := rs[0].Bindings["a"].([]any)
		d.ApprovalSatisfied = len(set) == 1
		return d, nil
	}
	// An error (or an undefined decision) in the joint query: evaluate each step's rule alone, so that
	// each step's exit code is the one its own evaluation would give.
	rs, err = p.decision.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return notEvaluable(steps.PolicyGate, err)
	}
	if len(rs) == 1 && len(rs[0].Expressions) == 1 {
		d.read(rs[0].Expressions[0].Value)
	}
	// An undefined decision stays refused (Allowed false), as `opa eval --fail` does.
	rs, err = p.approval.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return notEvaluable(steps.ApprovalGate, err)
	}
	d.ApprovalSatisfied = len(rs) == 1 && len(rs[0].Expressions) == 1 && rs[0].Expressions[0].Value == true
	return d, nil
}

func (d *Decision) read(v any) {
	if m, ok := v.(map[string]any); ok {
		d.Allowed = m["allowed"] == true
		d.Refusals = stringsOf(m["refusals"])
		d.ApprovalRequired = stringsOf(m["approvalRequired"])
	}
}

func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// input is what gate.rego's runtime_input builds from a step's environment: parameters as strings,
// the target parsed if it is valid JSON (null otherwise), approved only for "true".
func (g *Gate) input(r Run) (ast.Value, error) {
	var target any
	if json.Valid([]byte(r.Target)) {
		dec := json.NewDecoder(bytes.NewReader([]byte(r.Target)))
		dec.UseNumber()
		if err := dec.Decode(&target); err != nil {
			target = nil
		}
	}
	// Built as AST terms directly: converting Go values with ast.InterfaceToValue costs a tenth of a
	// decision. Only the target goes through it.
	targetValue, err := ast.InterfaceToValue(target)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	params := make([][2]*ast.Term, 0, len(r.Parameters))
	for k, v := range r.Parameters {
		params = append(params, [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(v)})
	}
	return ast.NewObject(
		[2]*ast.Term{ast.StringTerm("action"), ast.StringTerm(r.Action)},
		[2]*ast.Term{ast.StringTerm("parameters"), ast.NewTerm(ast.NewObject(params...))},
		[2]*ast.Term{ast.StringTerm("target"), ast.NewTerm(targetValue)},
		[2]*ast.Term{ast.StringTerm("approved"), ast.BooleanTerm(r.Approved)},
	), nil
}

// merge copies src into dst, merging objects key by key.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if have, ok := dst[k].(map[string]any); ok {
				merge(have, sub)
				continue
			}
		}
		dst[k] = v
	}
}

// prepare compiles an action's queries once. A missing file or a compile error is kept and returned for
// every decision of the action, as each step would fail to load it.
func (g *Gate) prepare(ctx context.Context, action string) *prepared {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.prepared[action]; ok {
		return p
	}
	p := &prepared{}
	g.prepared[action] = p
	compile, err := g.compiler(action)
	if err != nil {
		p.err = err
		return p
	}
	// Not cancelled with the first caller: the result is shared by every later decision.
	ctx = context.WithoutCancel(ctx)
	if p.both, err = compile(ctx, bothQuery); err != nil {
		p.err = err
		return p
	}
	if p.decision, err = compile(ctx, decisionQuery); err != nil {
		p.err = err
		return p
	}
	if p.approval, err = compile(ctx, approvalQuery); err != nil {
		p.err = err
	}
	return p
}

// compiler loads what an action's steps load (the library, the gate, the catalogue data, the chart's
// configuration and the action's policy) and returns a function that prepares a query over it.
func (g *Gate) compiler(action string) (func(context.Context, string) (rego.PreparedEvalQuery, error), error) {
	var modules []func(*rego.Rego)
	store := map[string]any{}
	for _, key := range steps.PolicyKeys(action) {
		content, ok := g.files[key]
		if !ok {
			return nil, fmt.Errorf("%s: no such file in the policy ConfigMap", key)
		}
		if strings.HasSuffix(key, ".json") {
			// Each JSON file is a data document rooted at data, as `opa eval --data` loads it; they
			// merge (the catalogue and the configuration both sit under data.kubernaut).
			var doc map[string]any
			if err := json.Unmarshal([]byte(content), &doc); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			merge(store, doc)
			continue
		}
		modules = append(modules, rego.Module(key, content))
	}
	return func(ctx context.Context, query string) (rego.PreparedEvalQuery, error) {
		opts := append([]func(*rego.Rego){
			// The catalogue data is stored as AST values: read on every decision, it is then not converted
			// from Go values each time.
			rego.Query(query), rego.Store(inmem.NewFromObjectWithOpts(store, inmem.OptReturnASTValuesOnRead(true))), rego.StrictBuiltinErrors(true),
			rego.SetRegoVersion(ast.RegoV1),
		}, modules...)
		return rego.New(opts...).PrepareForEval(ctx)
	}, nil
}
