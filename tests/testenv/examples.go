package testenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/catalogue"
)

// Examples are the values the tests run each catalogue action with, all from the catalogue: every
// parameter's and context field's `example`. An action added to the catalogue is run by the tests
// without an edit here.
type Examples struct {
	// Params are each action's parameters by name, and "target": a target context as JSON.
	Params map[string]map[string]string
	// Valid holds a value for every parameter name (the first action in catalogue order that declares
	// the name gives it) and the target context.
	Valid map[string]string
}

// TargetEnvironment and TargetLabels are the environment and labels of the examples' target context:
// one where no action needs approval unless its catalogue entry always asks for it.
const TargetEnvironment = "staging"

var TargetLabels = map[string]string{"app": "web"}

// ExamplesOf reads the examples of a catalogue. A parameter or context field without one is an
// error naming each, and the file to add them to.
func ExamplesOf(c *catalogue.Catalogue) (*Examples, error) {
	var missing []string
	target := map[string]any{"environment": TargetEnvironment, "labels": TargetLabels}
	for _, a := range c.Actions {
		for _, f := range a.Context {
			if f.Example == "" {
				missing = append(missing, fmt.Sprintf("%s context field %s", a.Name, f.Name))
				continue
			}
			v, err := typed(f.Type, f.Example)
			if err != nil {
				return nil, fmt.Errorf("%s context field %s: %w", a.Name, f.Name, err)
			}
			target[f.Name] = v
		}
	}
	data, err := json.Marshal(target)
	if err != nil {
		return nil, err
	}
	out := &Examples{Params: map[string]map[string]string{}, Valid: map[string]string{"target": string(data)}}
	for _, a := range c.Actions {
		params := map[string]string{"target": string(data)}
		for _, p := range a.Parameters {
			if p.Example == "" {
				missing = append(missing, fmt.Sprintf("%s parameter %s", a.Name, p.Name))
				continue
			}
			params[p.Name] = p.Example
			if _, ok := out.Valid[p.Name]; !ok {
				out.Valid[p.Name] = p.Example
			}
		}
		out.Params[a.Name] = params
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("give an example in %s for: %s (every test layer runs each action with its examples)", catalogue.DefaultPath, strings.Join(missing, ", "))
	}
	return out, nil
}

func typed(typ, v string) (any, error) {
	switch typ {
	case catalogue.TypeInteger:
		return strconv.ParseInt(v, 10, 64)
	case catalogue.TypeBoolean:
		return strconv.ParseBool(v)
	}
	return v, nil
}

// shipped are the shipped catalogue's examples, read once.
var shipped = sync.OnceValues(func() (*Examples, error) {
	c, err := catalogue.Default()
	if err != nil {
		return nil, err
	}
	return ExamplesOf(c)
})

// ValidParams are parameter values (and a target context) every catalogue action accepts: the
// shipped catalogue's examples. They are package-level values of the test packages, so a catalogue
// without examples panics here with ExamplesOf's message, naming what to add.
func ValidParams() map[string]string {
	e, err := shipped()
	if err != nil {
		panic("testenv: " + err.Error())
	}
	return maps.Clone(e.Valid)
}

// ParamsFor is ValidParams with the values one action reads differently: the same parameter name can
// have a different shape per action (a ConfigMap merge patch, a Deployment's container patch).
func ParamsFor(action string) map[string]string {
	p := ValidParams()
	e, _ := shipped() // ValidParams panicked on its error
	maps.Copy(p, e.Params[action])
	return p
}

// Scenarios are a test layer's table of what the catalogue cannot give: per action, how to seed its
// target and what effect to expect. File is where the table is, named in every failure.
type Scenarios[S any] struct {
	File  string
	Table map[string]S
}

// For is action's scenario; a missing one fails t naming the file to add it to.
func (s Scenarios[S]) For(t testing.TB, action string) S {
	t.Helper()
	v, ok := s.Table[action]
	require.True(t, ok, "no scenario for action %s: add one to the scenarios table in %s (how to seed its target, what its effect is)", action, s.File)
	return v
}

// RequireCurrent fails t for an entry of an action the catalogue no longer has.
func (s Scenarios[S]) RequireCurrent(t testing.TB, c *catalogue.Catalogue) {
	t.Helper()
	for name := range s.Table {
		_, ok := c.Action(name)
		require.True(t, ok, "%s has a scenario for %s, which the catalogue no longer has: remove it", s.File, name)
	}
}
