package catalogue_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/fixture"
)

func TestShippedCatalogueIsValid(t *testing.T) {
	c, err := catalogue.Default()
	require.NoError(t, err)
	var names []string
	for _, a := range c.Actions {
		names = append(names, a.Name)
	}
	require.ElementsMatch(t, []string{
		"restart-pod", "scale-deployment", "patch-configmap", "cordon-node", "drain-node",
		"delete-pod", "patch-deployment", "rollback-deployment", "verify-deployment", "custom-script",
	}, names)
	require.True(t, c.HasClusterActions())

	fromDisk, err := catalogue.Load("actions.yaml")
	require.NoError(t, err)
	require.Equal(t, c.Actions, fromDisk.Actions, "the embedded catalogue is the file")
}

func TestPolicyRulesAreSorted(t *testing.T) {
	a := catalogue.Action{Rules: []catalogue.Rule{{APIGroups: []string{""}, Resources: []string{"pods", "configmaps"}, Verbs: []string{"list", "get"}}}}
	r := a.PolicyRules()
	require.Equal(t, []string{"configmaps", "pods"}, r[0].Resources)
	require.Equal(t, []string{"get", "list"}, r[0].Verbs)
	require.Nil(t, r[0].ResourceNames)
}

type expectation struct {
	line int
	msg  string
}

// expectations reads the `# want: LINE: MESSAGE` header of a fixture.
func expectations(t *testing.T, data []byte) []expectation {
	var out []expectation
	for _, w := range fixture.Wants(data) {
		line, msg, ok := strings.Cut(w, ": ")
		require.True(t, ok, "want %q is not LINE: MESSAGE", w)
		n, err := strconv.Atoi(line)
		require.NoError(t, err)
		out = append(out, expectation{n, msg})
	}
	return out
}

// Every fixture in testdata/invalid breaks one rule (many-problems breaks several) and names, in its
// header, each problem that must be reported: line and message. Nothing else may be reported.
func TestInvalidCataloguesReportEveryProblemWithLine(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 30)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			wants := expectations(t, data)
			require.NotEmpty(t, wants, "fixture has no `# want:` header")

			_, err = catalogue.Load(file)
			var problems catalogue.Problems
			require.ErrorAs(t, err, &problems)
			require.Len(t, problems, len(wants), "reported: %v", err)
			for _, w := range wants {
				require.Condition(t, func() bool {
					for _, p := range problems {
						if p.Line == w.line && p.File == file && bytes.Contains([]byte(p.Msg), []byte(w.msg)) {
							return true
						}
					}
					return false
				}, "want %s:%d: %s\ngot:\n%v", file, w.line, w.msg, err)
			}
		})
	}
}

func TestLoadMissingFileNamesIt(t *testing.T) {
	_, err := catalogue.Load("testdata/does-not-exist.yaml")
	require.ErrorContains(t, err, "catalogue testdata/does-not-exist.yaml")
}

func TestArgv(t *testing.T) {
	c, err := catalogue.Default()
	require.NoError(t, err)
	scale, ok := c.Action("scale-deployment")
	require.True(t, ok)
	argv, err := scale.Argv(map[string]string{"namespace": "shop", "deployment": "--all", "replicas": "3"})
	require.NoError(t, err)
	require.Equal(t, []string{"kubectl", "patch", "deployment/--all", "--namespace=shop", "--type=merge", `--patch={"spec":{"replicas":3}}`}, argv, "a flag-like value stays inside its element")
	_, err = scale.Argv(map[string]string{"namespace": "shop"})
	require.ErrorContains(t, err, "no value for parameter(s) deployment, replicas")
}
