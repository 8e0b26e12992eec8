package generate_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/gen/generate"
)

const root = "../.."

// synthetic repeats the shipped actions under new names until it holds n actions.
func synthetic(t testing.TB, n int) *catalogue.Catalogue {
	shipped, err := catalogue.Default()
	require.NoError(t, err)
	out := &catalogue.Catalogue{}
	for i := range n {
		a := shipped.Actions[i%len(shipped.Actions)]
		a.Name = fmt.Sprintf("%s-%04d", a.Name, i)
		out.Actions = append(out.Actions, a)
	}
	return out
}

func TestSyntheticCatalogueGenerates(t *testing.T) {
	files, summary, err := generate.Generate(synthetic(t, 100), root)
	require.NoError(t, err)
	require.Equal(t, 100, summary.Actions)
	require.Contains(t, files, "kustomize/base/clusterrole-kubernaut-execution-action-drain-node-0004.yaml")
}

// BenchmarkGenerate measures generate + Helm render in memory (no disk writes) for the shipped catalogue
// and synthetic ones of 100 and 1,000 actions; time per action must stay flat (linear generation).
func BenchmarkGenerate(b *testing.B) {
	shipped, err := catalogue.Default()
	require.NoError(b, err)
	for _, c := range []struct {
		name string
		cat  *catalogue.Catalogue
	}{{"shipped-10", shipped}, {"synthetic-100", synthetic(b, 100)}, {"synthetic-1000", synthetic(b, 1000)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := generate.Generate(c.cat, root); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(c.cat.Actions))/1e3, "µs/action")
		})
	}
}
