package generate

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDocumentValues(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		want         []string // keys documented, in order
		err          string
	}{
		{
			name:   "leaves and sections",
			values: "# Section heading.\nsection:\n  # A.\n  a: 1\n  # B.\n  b: [x]\n# Whole map.\nres:\n  cpu: 1m\n# Empty.\nsel: {}\n",
			want:   []string{"section.a", "section.b", "res", "sel"},
		},
		{name: "undocumented leaf", values: "# A.\na: 1\nb: 2\n", err: "values.yaml:3: b"},
		{name: "undocumented nested leaf", values: "s:\n  # A.\n  a: 1\n  c: true\n", err: "values.yaml:4: s.c"},
		{name: "undocumented empty map", values: "m: {}\n", err: "values.yaml:1: m"},
		{name: "not a mapping", values: "- a\n", err: "not a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := documentValues("values.yaml", []byte(tc.values))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var keys []string
			for _, r := range rows {
				keys = append(keys, r.key)
			}
			require.Equal(t, tc.want, keys)
		})
	}
}

// Every step image role takes its image from a value values.yaml has, whole or as a section.
func TestCheckStepImageValues(t *testing.T) {
	rows := []valueDoc{{key: "tekton.opaImage"}, {key: "actions.image.repository"}, {key: "actions.image.tag"}}
	require.NoError(t, checkStepImageValues(stepImageValues, rows))
	require.ErrorContains(t, checkStepImageValues(stepImageValues, rows[1:]),
		`the image of step role "opa" comes from value "tekton.opaImage", which values.yaml does not have`)
	require.ErrorContains(t, checkStepImageValues(map[string]string{"opa": "tekton.opaImage"}, rows),
		`step image role "kubectl" has no chart value`)
}
