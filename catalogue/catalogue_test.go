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

func TestSubstitute(t *testing.T) {
	c, err := catalogue.Default()
	require.NoError(t, err)
	scale, ok := c.Action("scale-deployment")
	require.True(t, ok)
	values := map[string]string{"namespace": "shop", "deployment": "--all", "replicas": "3"}
	var argv []string
	for _, arg := range scale.Command {
		argv = append(argv, catalogue.Substitute(arg, func(name string) string { return values[name] }))
	}
	require.Equal(t, []string{"kubectl", "patch", "deployment/--all", "--namespace=shop", "--type=merge", `--patch={"spec":{"replicas":3}}`}, argv, "a flag-like value stays inside its element")
}

// Placeholder reads a reference exactly when its name is one the catalogue allows a parameter to have,
// so validation, Substitute and Target agree. Before, the step builder read [A-Za-z0-9_-]+, Target
// [A-Za-z0-9_]+ and validation [^)]*: each read names the others did not.
func TestPlaceholderReadsParameterNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		valid bool
		was   string // what the old readings did with it
	}{
		{name: "pod", valid: true},
		{name: "maxUnavailable", valid: true},
		{name: "v2", valid: true},
		{name: "Pod", was: "the step builder substituted it and Target named it"},
		{name: "pod-name", was: "the step builder substituted it"},
		{name: "pod_name", was: "the step builder substituted it and Target named it"},
		{name: "9pods", was: "the step builder substituted it and Target named it"},
		{name: "pod.name", was: "validation read it as a name, the step builder left it"},
		{name: "", was: "validation read it as a name, the step builder left it"},
	} {
		t.Run("params."+tc.name, func(t *testing.T) {
			arg := "pod/$(params." + tc.name + ")"
			m := catalogue.Placeholder.FindStringSubmatch(arg)
			require.Equal(t, tc.valid, m != nil, "Placeholder on %q (%s)", arg, tc.was)
			if tc.valid {
				require.Equal(t, tc.name, m[1])
				require.Equal(t, "pod/value", catalogue.Substitute(arg, func(string) string { return "value" }))
			} else {
				require.Equal(t, arg, catalogue.Substitute(arg, func(string) string { return "value" }), "left as written")
			}
			target, ok := catalogue.Action{Command: []string{"kubectl", "delete", arg}}.Target()
			require.Equal(t, tc.valid, ok, "Target of %q", arg)
			if ok {
				require.Equal(t, tc.name, target.Parameter)
			}

			// Declared and used, the name makes a valid catalogue exactly when Placeholder reads it; when it
			// does not, the command is refused too, not only the name.
			_, err := catalogue.Parse("placeholder.yaml", []byte(strings.ReplaceAll(placeholderCatalogue, "NAME", tc.name)))
			if tc.valid {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "must be lowerCamelCase letters and digits")
			require.ErrorContains(t, err, "malformed placeholder")
		})
	}
}

// placeholderCatalogue is a valid catalogue when NAME is a valid parameter name.
const placeholderCatalogue = `actions:
  - name: fixture
    description: Fixture action.
    scope: Namespaced
    dryRun:
      supported: true
    rules:
      - apiGroups: [""]
        resources: [pods]
        verbs: [delete]
    parameters:
      - name: namespace
        type: string
        required: true
        description: Target namespace.
      - name: "NAME"
        type: string
        required: true
        description: Target pod.
    command: ["kubectl", "delete", "pod/$(params.NAME)", "--namespace=$(params.namespace)"]
    admission:
      - apiGroup: ""
        resource: pods
        operations: [DELETE]
`
