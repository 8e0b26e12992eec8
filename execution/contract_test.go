package execution_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/execution"
	"github.com/jordigilh/kubernaut-execution/execution/steps"
)

// renderedContract is the contract ConfigMap of the chart rendered with default values (kustomize/base
// is that render, written by the generator).
func renderedContract(t testing.TB) map[string]string {
	t.Helper()
	data, err := os.ReadFile("../kustomize/base/configmap-kubernaut-execution-execution-contract.yaml")
	require.NoError(t, err)
	var cm corev1.ConfigMap
	require.NoError(t, yaml.Unmarshal(data, &cm))
	require.Equal(t, execution.ComponentValue, cm.Labels[execution.ComponentLabel], "Discover finds the ConfigMap by this label")
	return cm.Data
}

func TestRenderedContractParses(t *testing.T) {
	c, err := execution.Parse(renderedContract(t))
	require.NoError(t, err)
	cat, err := catalogue.Default()
	require.NoError(t, err)
	require.NoError(t, c.CheckCatalogue(cat))
	require.Equal(t, "kubernaut-system", c.Namespace)
	require.Equal(t, "kubernaut-execution-run-", c.RunServiceAccountPrefix)

	a, err := c.Lookup(cat, "scale-deployment")
	require.NoError(t, err)
	require.Equal(t, "kubernaut-execution-action-scale-deployment", a.ClusterRole)
	require.Equal(t, "kubernaut-scale-deployment", a.Task)
	require.Equal(t, "scale-deployment.rego", a.PolicyKey)
	require.Equal(t, []string{"policy-gate", "approval-gate", "dry-run", "execute"}, a.Steps)
	require.False(t, a.Cluster())
	v, err := c.Lookup(cat, "verify-deployment")
	require.NoError(t, err)
	require.Equal(t, []string{"policy-gate", "approval-gate", "execute"}, v.Steps, "a read-only action has no dry-run step")
	require.Equal(t, "refused by policy", c.ExitMeaning("policy-gate", 1))
	require.Equal(t, "approval required", c.ExitMeaning("approval-gate", 1))
	require.Equal(t, "policy could not be evaluated", c.ExitMeaning("policy-gate", 2))

	_, err = c.Lookup(cat, "reboot-cluster")
	require.ErrorContains(t, err, `unknown action "reboot-cluster"`)
}

// Every check of Parse fails on a bad contract, naming what is wrong.
func TestContractRefusesBadInput(t *testing.T) {
	good := renderedContract(t)[execution.ContractKey]
	for _, tc := range []struct{ name, old, new, want string }{
		{"other version", "version: 1", "version: 2", "version 2"},
		{"no namespace", "namespace: kubernaut-system", "namespace: \"\"", `namespace ""`},
		{"bad namespace", "namespace: kubernaut-system", "namespace: Kubernaut_System", `namespace "Kubernaut_System"`},
		{"no prefix", "runServiceAccountPrefix: kubernaut-execution-run-", "runServiceAccountPrefix: \"\"", "runServiceAccountPrefix is empty"},
		{"long prefix", "runServiceAccountPrefix: kubernaut-execution-run-", "runServiceAccountPrefix: " + strings.Repeat("a", 50) + "-", "leaves fewer than"},
		{"bad label key", "run: kubernaut.io/run", "run: kubernaut.io/run/x", "labels.run"},
		{"unknown field", "taskPrefix: kubernaut-", "taskPrefix: kubernaut-\nextra: 1", `unknown field "extra"`},
		{"steps reordered", "name: policy-gate", "name: dry-run", "steps [dry-run approval-gate dry-run execute]"},
		{"no run retention", "runRetentionSeconds: 3600", "runRetentionSeconds: 0", "runRetentionSeconds 0"},
		{"run retention beyond a Job's TTL", "runRetentionSeconds: 3600", "runRetentionSeconds: 2147483648", "runRetentionSeconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, good, tc.old)
			_, err := execution.Parse(map[string]string{execution.ContractKey: strings.Replace(good, tc.old, tc.new, 1)})
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := execution.Parse(map[string]string{})
	require.ErrorContains(t, err, "no key contract.yaml")
	for key, want := range map[string]string{execution.ImageKey(steps.ImageOPA): "opaImage is empty", execution.RunAsUserKey: `runAsUser "0" is not a non-root ID`, execution.RunAsGroupKey: `runAsGroup "0" is not a non-root ID`} {
		data := renderedContract(t)
		if key == execution.RunAsUserKey || key == execution.RunAsGroupKey {
			data[key] = "0"
		} else {
			delete(data, key)
		}
		_, err = execution.Parse(data)
		require.ErrorContains(t, err, want)
	}
	data := renderedContract(t)
	delete(data, execution.RunAsUserKey)
	delete(data, execution.RunAsGroupKey)
	noUID, err := execution.Parse(data)
	require.NoError(t, err)
	require.Nil(t, noUID.RunAsUser, "OpenShift: no fixed UID")
	require.Nil(t, noUID.RunAsGroup, "OpenShift: no fixed GID")
	withIDs, err := execution.Parse(renderedContract(t))
	require.NoError(t, err)
	require.Equal(t, int64(65532), *withIDs.RunAsGroup)

	c, err := execution.Parse(renderedContract(t))
	require.NoError(t, err)
	cat, err := catalogue.Default()
	require.NoError(t, err)
	cat.Actions = cat.Actions[1:]
	require.ErrorContains(t, c.CheckCatalogue(cat), "differs from the chart's")
}

// The contract read from a mounted ConfigMap (a file per key) is the one read from the API.
func TestLoadDir(t *testing.T) {
	data := renderedContract(t)
	want, err := execution.Parse(data)
	require.NoError(t, err)
	dir := t.TempDir()
	for k, v := range data {
		require.NoError(t, os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600))
	}
	got, err := execution.LoadDir(dir)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, os.Remove(filepath.Join(dir, execution.ImageKey(steps.ImageKubectl))))
	_, err = execution.LoadDir(dir)
	require.ErrorContains(t, err, "kubectlImage is empty")
}

// The catalogue digest covers everything the catalogue file says: renaming a parameter or a context
// field (which the gate's JSON form keys elsewhere) or rewording a description is another catalogue.
func TestCatalogueDigestCoversEveryName(t *testing.T) {
	digest := func(change func(*catalogue.Catalogue)) string {
		cat, err := catalogue.Default()
		require.NoError(t, err)
		change(cat)
		d, err := execution.CatalogueDigest(cat)
		require.NoError(t, err)
		return d
	}
	shipped := digest(func(*catalogue.Catalogue) {})
	require.Equal(t, shipped, digest(func(*catalogue.Catalogue) {}), "stable")
	withContext := func(cat *catalogue.Catalogue) *catalogue.Action {
		for i := range cat.Actions {
			if len(cat.Actions[i].Context) > 0 {
				return &cat.Actions[i]
			}
		}
		t.Fatal("no action has a context field")
		return nil
	}
	for name, change := range map[string]func(*catalogue.Catalogue){
		"action name":               func(c *catalogue.Catalogue) { c.Actions[0].Name += "x" },
		"parameter name":            func(c *catalogue.Catalogue) { c.Actions[0].Parameters[0].Name += "x" },
		"parameter description":     func(c *catalogue.Catalogue) { c.Actions[0].Parameters[0].Description += "x" },
		"context field name":        func(c *catalogue.Catalogue) { withContext(c).Context[0].Name += "x" },
		"context field description": func(c *catalogue.Catalogue) { withContext(c).Context[0].Description += "x" },
	} {
		require.NotEqual(t, shipped, digest(change), name)
	}
}
