package generate

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValuesSchema(t *testing.T) {
	const source = `{
  "$defs": {"image": {"type": "object", "additionalProperties": false, "properties": {"repository": {"type": "string"}}}},
  "type": "object",
  "properties": {
    "replicas": {"type": "integer"},
    "a": {"type": "object", "properties": {"image": {"$ref": "#/$defs/image"}}},
    "b": {"type": "object", "properties": {"image": {"$ref": "#/$defs/image"}}}
  }
}`
	rows := []valueDoc{{key: "replicas", text: "How many."}, {key: "a.image.repository", text: "A's image."}, {key: "b.image.repository", text: "B's image."}}
	out, err := valuesSchema([]byte(source), rows)
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(out, &schema))
	require.Equal(t, "How many.", get(schema, "properties", "replicas", "description"))
	require.Equal(t, "A's image.", get(schema, "properties", "a", "properties", "image", "properties", "repository", "description"), "an overlay beside the $ref")
	require.Equal(t, "B's image.", get(schema, "properties", "b", "properties", "image", "properties", "repository", "description"))
	require.Nil(t, get(schema, "$defs", "image", "properties", "repository", "description"), "the shared definition stays without text")

	for name, tc := range map[string]struct {
		source string
		rows   []valueDoc
		want   string
	}{
		"key without property":        {source, append(rows, valueDoc{key: "a.image.tag", text: "x"}), "values.yaml key a.image.tag has no property"},
		"property not in values.yaml": {source, rows[1:], "has property replicas, which values.yaml does not have"},
		"description written twice":   {`{"properties": {"replicas": {"type": "integer", "description": "old"}}}`, rows[:1], "describes replicas, which values.yaml documents"},
		"source that is not JSON":     {`{`, rows, ValuesSchemaSource},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := valuesSchema([]byte(tc.source), tc.rows)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func get(v any, path ...string) any {
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}
