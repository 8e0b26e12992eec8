package tests

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/execution/gate"
)

// The catalogue's pattern and custom-script's policy agree on the selector: one positive equality on
// a label is allowed, and every other form is refused by both, each naming the parameter. Only the
// policy bounds a key prefix to 253 characters, which the pattern cannot say.
func TestGateHoldsCustomScriptToOneLabelEquality(t *testing.T) {
	g := gate.New(readPolicyDir(t, policyFiles(t)))
	decide := func(selector string) gate.Decision {
		params := map[string]string{"namespace": "shop", "resource": "configmaps", "selector": selector}
		d, err := g.Decide(context.Background(), gate.Run{Action: "custom-script", Parameters: params, Target: validParams["target"], Approved: true})
		require.NoError(t, err)
		return d
	}
	const pattern, policy = `parameter "selector" does not match`, `parameter "selector"`

	for _, s := range []string{"app=web", "app.kubernetes.io/name=web", "example.com/tier=Back_end.v-2", strings.Repeat("abcd.", 49) + "ef/app=web"} {
		d := decide(s)
		require.True(t, d.Allowed, "%q: %v", s, d.Refusals)
	}
	for _, s := range []string{"app!=web", "app==web", "app in (a,b)", "app notin (a)", "!app", "app", "app=web,tier=db", "app=",
		"app=" + strings.Repeat("a", 64), strings.Repeat("a", 64) + "=web", "Example.com/app=web", "a/b/c=web", "-app=web", "app=web_"} {
		d := decide(s)
		require.False(t, d.Allowed, s)
		var byPattern, byPolicy bool
		for _, r := range d.Refusals {
			byPattern = byPattern || strings.HasPrefix(r, pattern)
			byPolicy = byPolicy || (strings.HasPrefix(r, policy) && !strings.HasPrefix(r, pattern))
		}
		require.True(t, byPattern && byPolicy, "%q is refused by the catalogue's pattern and by the policy: %v", s, d.Refusals)
	}
	d := decide(strings.Repeat("abcd.", 51) + "ef/app=web")
	require.Equal(t, []string{`parameter "selector": key "` + strings.Repeat("abcd.", 51) + `ef/app" is not a label key ([prefix/]name: ` +
		`the name 1 to 63 letters, digits, "-", "_" or "." with a letter or digit at each end; the prefix a DNS subdomain of at most 253 characters)`}, d.Refusals)
}
