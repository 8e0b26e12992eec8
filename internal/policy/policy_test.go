package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
	"github.com/jordigilh/kubernaut-execution/internal/policy"
)

var shipped = filepath.Join("..", "..", policy.Dir)

func TestBuildShippedPolicies(t *testing.T) {
	cat, err := catalogue.Default()
	require.NoError(t, err)
	b, err := policy.Build(cat, shipped)
	require.NoError(t, err)
	for _, a := range cat.Actions {
		require.Contains(t, b.ConfigMap, a.Name+".rego")
		require.Contains(t, b.Schemas, policy.SchemaName(a.Name)+".json")
	}
	require.Contains(t, b.ConfigMap, "_lib.rego")
	require.Contains(t, b.ConfigMap, "_gate.rego")
	require.Contains(t, b.ConfigMap, steps.CatalogueKey)
	for key := range b.ConfigMap {
		require.NotContains(t, key, "_test", "tests do not ship")
	}
	require.Empty(t, b.Warnings)
}

// Each broken policy tree is refused with a message naming the file.
func TestBuildRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{"action without policy", remove("scale-deployment.rego"), "scale-deployment.rego: open"},
		{"action without tests", remove("scale-deployment_test.rego"), "scale-deployment_test.rego: open"},
		{"library without tests", remove("lib/gate_test.rego"), "gate_test.rego: open"},
		{"wrong package", edit("cordon-node.rego", "package kubernaut.actions.cordon_node", "package kubernaut.actions.cordon"), "cordon-node.rego: package kubernaut.actions.cordon, want kubernaut.actions.cordon_node"},
		{"hyphenated package", edit("cordon-node.rego", "package kubernaut.actions.cordon_node", "package kubernaut.actions.cordon-node"), "cordon-node.rego: not OPA 1.x Rego"},
		{"OPA v0 syntax", edit("verify-deployment.rego", "deny := set()", "deny[msg] {\n\tmsg := \"x\"\n}"), "verify-deployment.rego: not OPA 1.x Rego"},
		{"tests without a test", edit("drain-node_test.rego", "test_", "check_"), "drain-node_test.rego: no test_ rule"},
		{"policy without a description", edit("cordon-node.rego", "# description: Marking a node unschedulable.\n", ""), "cordon-node.rego: no METADATA title and description"},
		{"policy for no action", write("reboot-node.rego", "package kubernaut.actions.reboot_node\n"), "reboot-node.rego: policy for an action the catalogue does not have"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.CopyFS(dir, os.DirFS(shipped)))
			tc.break_(t, dir)
			cat, err := catalogue.Default()
			require.NoError(t, err)
			_, err = policy.Build(cat, dir)
			require.ErrorContains(t, err, "invalid policies: 1 problem(s)")
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func remove(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, name))) }
}

func write(name, content string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
}

func edit(name, old, new string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Contains(t, string(data), old)
		require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(string(data), old, new)), 0o644))
	}
}

func TestPackageNames(t *testing.T) {
	require.Equal(t, "kubernaut.actions.scale_deployment", policy.Package("scale-deployment"))
	require.Equal(t, "scale_deployment", policy.SchemaName("scale-deployment"))
}
