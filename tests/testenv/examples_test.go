package testenv_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// Every action gets a value for each of its parameters from the catalogue, and its own where two
// actions share a parameter name with different shapes.
func TestExamplesComeFromTheCatalogue(t *testing.T) {
	c, err := catalogue.Default()
	require.NoError(t, err)
	e, err := testenv.ExamplesOf(c)
	require.NoError(t, err)
	for _, a := range c.Actions {
		params := testenv.ParamsFor(a.Name)
		for _, p := range a.Parameters {
			require.Equal(t, p.Example, params[p.Name], "%s parameter %s", a.Name, p.Name)
			require.NoError(t, p.Accepts(params[p.Name]))
		}
		require.Equal(t, e.Params[a.Name]["target"], params["target"])
	}
	require.Contains(t, testenv.ParamsFor("patch-deployment")["patch"], "containers")
	require.Contains(t, testenv.ValidParams()["patch"], "LOG_LEVEL", "the first action declaring a name gives ValidParams its value")

	var target map[string]any
	require.NoError(t, json.Unmarshal([]byte(e.Valid["target"]), &target))
	require.Equal(t, map[string]any{"environment": "staging", "labels": map[string]any{"app": "web"}, "currentReplicas": float64(2), "ownerKind": "ReplicaSet"}, target,
		"the context fields' examples, typed")
}

// An action without examples fails every test that runs actions with a message naming what to add
// and where, rather than with a missing value somewhere downstream.
func TestExamplesNameWhatIsMissing(t *testing.T) {
	c, err := catalogue.Default()
	require.NoError(t, err)
	a, ok := c.Action("scale-deployment")
	require.True(t, ok)
	for i := range c.Actions {
		if c.Actions[i].Name == a.Name {
			c.Actions[i].Parameters[1].Example = ""
			c.Actions[i].Context[0].Example = ""
		}
	}
	_, err = testenv.ExamplesOf(c)
	require.ErrorContains(t, err, "give an example in catalogue/actions.yaml for: scale-deployment context field currentReplicas, scale-deployment parameter "+a.Parameters[1].Name)
}

// recorder is a testing.TB that records failures instead of failing the test that uses it.
type recorder struct {
	testing.TB
	msgs []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Name() string              { return "recorder" }
func (r *recorder) Errorf(f string, a ...any) { r.msgs = append(r.msgs, fmt.Sprintf(f, a...)) }
func (r *recorder) FailNow()                  { runtime.Goexit() }

// failures runs f with a recorder, as its own goroutine so that FailNow stops f alone.
func failures(f func(t testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return strings.Join(r.msgs, "\n")
}

// A scenario table names its file when an action has no entry, and refuses an entry for an action
// the catalogue no longer has.
func TestScenariosNameTheirFile(t *testing.T) {
	c, err := catalogue.Default()
	require.NoError(t, err)
	s := testenv.Scenarios[int]{File: "tests/x/actions_test.go", Table: map[string]int{"restart-pod": 1}}
	require.Empty(t, failures(func(t testing.TB) { require.Equal(t, 1, s.For(t, "restart-pod")) }))
	require.Contains(t, failures(func(t testing.TB) { s.For(t, "scale-deployment") }),
		"no scenario for action scale-deployment: add one to the scenarios table in tests/x/actions_test.go")
	require.Empty(t, failures(func(t testing.TB) { s.RequireCurrent(t, c) }))
	s.Table["reboot-node"] = 2
	require.Contains(t, failures(func(t testing.TB) { s.RequireCurrent(t, c) }),
		"tests/x/actions_test.go has a scenario for reboot-node, which the catalogue no longer has")
}
