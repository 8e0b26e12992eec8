package steps_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

func TestBuild(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	for _, a := range cat.Actions {
		got := steps.Build(a, steps.TektonRef)
		var names []string
		for _, s := range got {
			names = append(names, s.Name)
		}
		want := []string{steps.PolicyGate, steps.ApprovalGate, steps.DryRun, steps.Execute}
		if !a.DryRun.Supported {
			want = []string{steps.PolicyGate, steps.ApprovalGate, steps.Execute}
		}
		require.Equal(t, want, names, a.Name)
		// With Tekton references the kubectl argv is the catalogue's command as written; with values it is
		// the command with each declared parameter's reference replaced, read here without the
		// catalogue's placeholder.
		last := got[len(got)-1]
		require.Equal(t, a.Command, append(append([]string{}, last.Command...), last.Args...))
		values := map[string]string{}
		var refs []string
		for _, p := range a.Parameters {
			values[p.Name] = "v-" + p.Name
			refs = append(refs, "$(params."+p.Name+")", values[p.Name])
		}
		var argv []string
		for _, arg := range a.Command {
			argv = append(argv, strings.NewReplacer(refs...).Replace(arg))
		}
		built := steps.Build(a, func(name string) string { return values[name] })
		exec := built[len(built)-1]
		require.Equal(t, argv, append(append([]string{}, exec.Command...), exec.Args...))
		require.Contains(t, got[0].Args, "--data="+steps.PolicyDir+"/"+steps.PolicyKey(a.Name))
	}
}
