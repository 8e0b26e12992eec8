package runrbac_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/jordigilh/kubernaut-execution/execution/runrbac"
)

const prefix = "kubernaut-execution-run-"

func TestIDFitsEveryRunName(t *testing.T) {
	for _, tc := range []struct{ name, prefix string }{
		{"a", prefix}, {strings.Repeat("x", 253), prefix}, {"UPPER.case_and.dots", prefix}, {"---", prefix},
		{"ends-with-dash-", prefix}, {"9", prefix}, {strings.Repeat("y", 100), strings.Repeat("p", 46) + "-"}, {"ünïcödé", prefix},
	} {
		run := runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: "ns", Name: tc.name, UID: "uid"}
		id := runrbac.ID(run, tc.prefix)
		require.Empty(t, validation.IsValidLabelValue(id), "label value %q", id)
		require.Empty(t, validation.IsDNS1123Label(tc.prefix+id), "ServiceAccount name %q", tc.prefix+id)
		require.Equal(t, id, runrbac.ID(run, tc.prefix), "deterministic")
	}
}

func TestIDSeparatesRuns(t *testing.T) {
	base := runrbac.Run{APIVersion: "batch/v1", Kind: "Job", Namespace: "ns", Name: strings.Repeat("n", 200), UID: "1"}
	seen := map[string]runrbac.Run{}
	for _, r := range []runrbac.Run{
		base,
		{APIVersion: "tekton.dev/v1", Kind: "PipelineRun", Namespace: base.Namespace, Name: base.Name, UID: base.UID},
		{APIVersion: base.APIVersion, Kind: base.Kind, Namespace: base.Namespace, Name: base.Name + "x", UID: base.UID},
	} {
		id := runrbac.ID(r, prefix)
		require.NotContains(t, seen, id, "runs %v and %v share an id", seen[id], r)
		seen[id] = r
	}
	// The UID is not known before the run object exists, and its ServiceAccount must be named in it.
	later := base
	later.UID = types.UID("2")
	require.Equal(t, runrbac.ID(base, prefix), runrbac.ID(later, prefix))
}

// FuzzID: any run name gives a valid, bounded id.
func FuzzID(f *testing.F) {
	f.Add("run-1", "uid")
	f.Add(strings.Repeat(".", 300), "")
	f.Fuzz(func(t *testing.T, name, uid string) {
		id := runrbac.ID(runrbac.Run{APIVersion: "v1", Kind: "K", Namespace: "ns", Name: name, UID: types.UID(uid)}, prefix)
		if msgs := validation.IsDNS1123Label(prefix + id); len(msgs) > 0 {
			t.Fatalf("%q: %v", id, msgs)
		}
	})
}
