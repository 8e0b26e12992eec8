package generate

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Files of the chart's values schema.
const (
	// ValuesSchemaSource holds the constraints only (types, patterns, enums, required keys), with $defs
	// for the blocks values.yaml repeats (image, resources); it has no description of any key that
	// values.yaml documents.
	ValuesSchemaSource = "charts/values.schema.source.json"
	// ValuesSchema is what Helm validates values against: the source with the comment above each key
	// in values.yaml as that key's description.
	ValuesSchema = ChartDir + "/values.schema.json"
)

// valuesSchema writes the description of every documented values.yaml key into the schema source. A
// key under a $ref gets an annotation-only overlay (its description), so one definition serves every
// place while each keeps its own text. A documented key the schema lacks, a schema property values.yaml
// lacks, or a description written in the source for a documented key is an error naming it: the two
// files cannot drift apart.
func valuesSchema(source []byte, rows []valueDoc) ([]byte, error) {
	var schema map[string]any
	if err := json.Unmarshal(source, &schema); err != nil {
		return nil, fmt.Errorf("%s: %w", ValuesSchemaSource, err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	var problems []string
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r.key] = true
		node := schema
		for _, seg := range strings.Split(r.key, ".") {
			next := property(node, seg)
			if next == nil {
				if def := refTarget(node, defs); def != nil && property(def, seg) != nil {
					// An overlay beside the $ref: the definition validates, the overlay describes.
					next = map[string]any{}
					props, _ := node["properties"].(map[string]any)
					if props == nil {
						props = map[string]any{}
						node["properties"] = props
					}
					props[seg] = next
				}
			}
			if next == nil {
				problems = append(problems, fmt.Sprintf("values.yaml key %s has no property in %s", r.key, ValuesSchemaSource))
				break
			}
			node = next
		}
		if _, has := node["description"]; has {
			problems = append(problems, fmt.Sprintf("%s describes %s, which values.yaml documents: remove the description there", ValuesSchemaSource, r.key))
		}
		node["description"] = r.text
	}
	var walk func(node map[string]any, prefix string)
	walk = func(node map[string]any, prefix string) {
		props, _ := node["properties"].(map[string]any)
		for name, p := range props {
			key := prefix + name
			if documented[key] {
				continue // documented as a whole: what is below it is the value's own shape
			}
			// global is Helm's own key (values passed to subcharts), which values.yaml does not set.
			if !slices.ContainsFunc(rows, func(r valueDoc) bool { return strings.HasPrefix(r.key, key+".") }) && key != "global" {
				problems = append(problems, fmt.Sprintf("%s has property %s, which values.yaml does not have", ValuesSchemaSource, key))
				continue
			}
			if m, ok := p.(map[string]any); ok {
				walk(m, key+".")
			}
		}
	}
	walk(schema, "")
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("values schema:\n  %s", strings.Join(problems, "\n  "))
	}
	out, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func property(node map[string]any, name string) map[string]any {
	props, _ := node["properties"].(map[string]any)
	p, _ := props[name].(map[string]any)
	return p
}

// refTarget is the definition a node's "$ref": "#/$defs/<name>" points to.
func refTarget(node, defs map[string]any) map[string]any {
	ref, _ := node["$ref"].(string)
	def, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
	return def
}
