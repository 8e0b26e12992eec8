package generate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/policy"
	"github.com/jordigilh/kubernaut-execution/internal/render"
)

const root = "../.."

var shippedPolicies = filepath.Join(root, policy.Dir)

// synthetic repeats the shipped actions under new names until it holds n actions, and writes a policy
// directory for it: the shipped library and, per action, a policy of policyBytes bytes with a test.
func synthetic(t testing.TB, n, policyBytes int) (*catalogue.Catalogue, string) {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dir, policy.LibDir), os.DirFS(filepath.Join(shippedPolicies, policy.LibDir))))
	out := &catalogue.Catalogue{}
	for i := range n {
		a := shipped.Actions[i%len(shipped.Actions)]
		a.Name = fmt.Sprintf("%s-%04d", a.Name, i)
		out.Actions = append(out.Actions, a)
		pkg := policy.Package(a.Name)
		body := fmt.Sprintf("# METADATA\n# title: %s\n# description: Synthetic policy.\npackage %s\n\ndeny := set()\n\nrequires_approval := set()\n", a.Name, pkg)
		body += "\n# " + strings.Repeat("x", max(0, policyBytes-len(body)-3)) + "\n"
		test := fmt.Sprintf("package %s_test\n\nimport data.%s\n\ntest_allows if count(%s.deny) == 0\n", pkg, pkg, pkg[strings.LastIndex(pkg, ".")+1:])
		require.NoError(t, os.WriteFile(filepath.Join(dir, a.Name+".rego"), []byte(body), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, a.Name+"_test.rego"), []byte(test), 0o644))
	}
	return out, dir
}

// The benchmark's largest input generates, within the ConfigMap's budget: 1,000 actions fit.
func TestSyntheticCatalogueGenerates(t *testing.T) {
	cat, policies := synthetic(t, 1000, 200)
	files, summary, err := generate.Generate(cat, root, policies)
	require.NoError(t, err)
	require.Equal(t, 1000, summary.Actions)
	require.Contains(t, files, "kustomize/base/clusterrole-kubernaut-execution-action-drain-node-0004.yaml")
	require.Contains(t, files, "kustomize/base/task-kubernaut-drain-node-0004.yaml")
	require.Len(t, summary.Warnings, 1, "1,000 actions pass 200 KiB: a warning, not an error")
}

// The policy ConfigMap's size budget: a warning above 200 KiB, an error above 900 KiB that names the
// largest policies.
func TestPolicyConfigMapSizeBudget(t *testing.T) {
	cat, policies := synthetic(t, 100, 3<<10) // ~300 KiB of policies
	_, summary, err := generate.Generate(cat, root, policies)
	require.NoError(t, err)
	require.Len(t, summary.Warnings, 1)
	require.Contains(t, summary.Warnings[0], "over 200 KiB")
	require.Contains(t, summary.Warnings[0], "ServerSideApply=true")

	cat, policies = synthetic(t, 100, 10<<10) // ~1 MiB
	_, _, err = generate.Generate(cat, root, policies)
	require.ErrorContains(t, err, "over the 900 KiB limit")
	require.ErrorContains(t, err, "largest: ")
	require.Regexp(t, `largest: .*[a-z-]+-\d{4}\.rego \(10 KiB\)`, err.Error())
}

// BenchmarkGenerate measures generate + Helm render in memory (no disk writes) for the shipped catalogue
// and synthetic ones of 100 and 1,000 actions; time per action must stay flat (linear generation).
func BenchmarkGenerate(b *testing.B) {
	shipped, err := catalogue.Default()
	require.NoError(b, err)
	type input struct {
		name     string
		cat      *catalogue.Catalogue
		policies string
	}
	inputs := []input{{"shipped-10", shipped, shippedPolicies}}
	for _, n := range []int{100, 1000} {
		// Policies of 200 bytes keep 1,000 actions inside the ConfigMap's budget.
		cat, policies := synthetic(b, n, 200)
		inputs = append(inputs, input{fmt.Sprintf("synthetic-%d", n), cat, policies})
	}
	for _, c := range inputs {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := generate.Generate(c.cat, root, c.policies); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.cat.Actions))/1e3, "µs/action")
		})
	}
}

// BenchmarkRender measures the Helm render alone of what Generate computes (the chart with its
// generated files, default values): the part of BenchmarkGenerate that the chart's templates decide.
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{10, 1000} {
		cat, policies := synthetic(b, n, 200)
		files, _, err := generate.Generate(cat, root, policies)
		require.NoError(b, err)
		chartFiles := map[string][]byte{}
		for name, content := range files {
			if rel, ok := strings.CutPrefix(name, generate.ChartDir+"/"); ok && strings.HasPrefix(rel, generate.ChartFilesDir+"/") {
				chartFiles[rel] = content
			}
		}
		ch, err := render.LoadChart(filepath.Join(root, generate.ChartDir), chartFiles, generate.ChartFilesDir)
		require.NoError(b, err)
		values := map[string]any{}
		data, err := os.ReadFile(filepath.Join(root, generate.BaseValuesFile))
		require.NoError(b, err)
		require.NoError(b, yaml.Unmarshal(data, &values))
		b.Run(fmt.Sprintf("synthetic-%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := render.Render(ch, render.Options{Release: render.DefaultRelease, Namespace: render.DefaultNamespace,
					KubeVersion: render.NewestKubernetes, Values: values}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1e3, "µs/action")
		})
	}
}

// .gitattributes marks exactly what the generator owns as generated, so that a review collapses it.
func TestGitattributesMarkWhatIsOwned(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, ".gitattributes"))
	require.NoError(t, err)
	var marked []string
	for line := range strings.Lines(string(data)) {
		if pattern, ok := strings.CutSuffix(strings.TrimSpace(line), " linguist-generated=true"); ok {
			marked = append(marked, strings.TrimSuffix(pattern, "/**"))
		}
	}
	require.NotEmpty(t, marked)
	require.ElementsMatch(t, generate.Owned, marked, ".gitattributes and generate.Owned list different paths")
}
