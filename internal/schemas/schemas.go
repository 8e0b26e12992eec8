// Package schemas writes strict, offline JSON schemas for kubeconform from the OpenAPI spec inside the
// pinned k8s.io/kubernetes module (no public schema store carries recent versions), and from the CRDs of
// the pinned modules whose kinds the bundle ships (Tekton's Task). Each schema keeps the definitions it
// reaches as local `#/definitions/...` references (some are recursive, so they cannot all be inlined),
// turns IntOrString and Quantity into what YAML really holds, and closes every object with
// `additionalProperties: false` (unless it preserves unknown fields) so a misspelled field fails.
package schemas

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/internal/modules"
)

// CRD is a CustomResourceDefinition file inside a module at a pinned version.
type CRD struct{ Module, Path string }

// CRDs are the custom resources the bundle ships or is deployed with: Tekton's Task (the version whose
// Go types the generator uses; a test holds the two equal), Argo CD's Application and the Prometheus
// Operator's ServiceMonitor (controller.serviceMonitor).
var CRDs = []CRD{
	{Module: "github.com/tektoncd/pipeline@v1.15.1", Path: "config/300-crds/300-task.yaml"},
	{Module: "github.com/argoproj/argo-cd/v3@v3.6.1", Path: "manifests/crds/application-crd.yaml"},
	{Module: "github.com/prometheus-operator/prometheus-operator@v0.90.1", Path: "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"},
}

// PathTemplate is the kubeconform schema location for a directory written by Generate.
func PathTemplate(dir string) string {
	return filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")
}

// stamp marks a finished generation; its name changes when what is generated does.
const stamp = ".complete-4"

// Ensure makes sure dir holds the schemas of Kubernetes version (v1.x.y), generating them once: a stamp
// file marks a finished generation, so an interrupted one is redone.
func Ensure(version, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, stamp)); err == nil {
		return nil
	}
	spec, err := modules.File("k8s.io/kubernetes@"+version, "api/openapi-spec/swagger.json")
	if err != nil {
		return err
	}
	if err := Generate(spec, dir); err != nil {
		return fmt.Errorf("schemas for kubernetes %s: %w", version, err)
	}
	for _, crd := range CRDs {
		data, err := modules.File(crd.Module, crd.Path)
		if err != nil {
			return err
		}
		if err := FromCRD(data, dir); err != nil {
			return fmt.Errorf("%s %s: %w", crd.Module, crd.Path, err)
		}
	}
	return os.WriteFile(filepath.Join(dir, stamp), []byte(version+"\n"), 0o644)
}

// FromCRD writes one schema per served version of a CustomResourceDefinition to dir.
func FromCRD(data []byte, dir string) error {
	var crd struct {
		Spec struct {
			Group string `json:"group"`
			Names struct {
				Kind string `json:"kind"`
			} `json:"names"`
			Versions []struct {
				Name   string `json:"name"`
				Served bool   `json:"served"`
				Schema struct {
					OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	written := 0
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		out, err := json.Marshal(normalise("", v.Schema.OpenAPIV3Schema))
		if err != nil {
			return err
		}
		file := filepath.Join(dir, FileName(crd.Spec.Group, v.Name, crd.Spec.Names.Kind))
		if err := os.WriteFile(file, out, 0o644); err != nil {
			return err
		}
		if err := Compile(file); err != nil {
			return err
		}
		written++
	}
	if written == 0 {
		return fmt.Errorf("no served version with a schema in CRD %s.%s", crd.Spec.Names.Kind, crd.Spec.Group)
	}
	return nil
}

type schema = map[string]any

// Generate writes one schema file per group/version/kind defined in spec (a swagger 2.0 document) to
// dir and checks that each one compiles the way kubeconform compiles it.
func Generate(spec []byte, dir string) error {
	var doc struct {
		Definitions map[string]schema `json:"definitions"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return fmt.Errorf("openapi spec: %w", err)
	}
	defs := map[string]schema{}
	for name, def := range doc.Definitions {
		defs[name] = normalise(name, def).(schema)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(doc.Definitions)) {
		gvks, _ := doc.Definitions[name]["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(map[string]any)
			file := filepath.Join(dir, FileName(gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)))
			out := maps.Clone(defs[name])
			reached := map[string]any{}
			collect(out, defs, reached)
			if len(reached) > 0 {
				out["definitions"] = reached
			}
			data, err := json.Marshal(out)
			if err != nil {
				return err
			}
			if err := os.WriteFile(file, data, 0o644); err != nil {
				return err
			}
			if err := Compile(file); err != nil {
				return err
			}
		}
	}
	return nil
}

// FileName is kubeconform's name for a kind's schema: kind[-group's first label]-version.json.
func FileName(group, version, kind string) string {
	suffix := "-" + version
	if group != "" {
		suffix = "-" + strings.Split(group, ".")[0] + suffix
	}
	return strings.ToLower(kind) + strings.ToLower(suffix) + ".json"
}

// Compile compiles a schema file exactly as kubeconform does (draft 4 by default). kubeconform treats a
// schema that fails to compile as missing, so callers must check it here to tell the two apart.
func Compile(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return fmt.Errorf("schema %s: %w", file, err)
	}
	url := "file://" + filepath.ToSlash(file)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(url, doc); err != nil {
		return fmt.Errorf("schema %s: %w", file, err)
	}
	if _, err := c.Compile(url); err != nil {
		return fmt.Errorf("schema %s does not compile: %w", file, err)
	}
	return nil
}

const refPrefix = "#/definitions/"

// normalise rewrites one definition: vendor extensions dropped, IntOrString and Quantity made to accept
// what manifests hold, and objects with properties closed unless they preserve unknown fields.
func normalise(name string, v any) any {
	switch name {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return schema{"oneOf": []any{schema{"type": "string"}, schema{"type": "integer"}}}
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return schema{"oneOf": []any{schema{"type": "string"}, schema{"type": "number"}}}
	}
	switch t := v.(type) {
	case map[string]any:
		if t["x-kubernetes-int-or-string"] == true {
			return schema{"oneOf": []any{schema{"type": "string"}, schema{"type": "integer"}}}
		}
		out := schema{}
		for k, val := range t {
			if strings.HasPrefix(k, "x-") {
				continue
			}
			if k == "properties" {
				props := schema{}
				for p, ps := range val.(map[string]any) {
					props[p] = normalise("", ps)
				}
				out[k] = props
				continue
			}
			out[k] = normalise("", val)
		}
		if _, hasProps := out["properties"]; hasProps && t["x-kubernetes-preserve-unknown-fields"] != true {
			if _, set := out["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalise("", e)
		}
		return out
	default:
		return v
	}
}

// collect adds to reached every definition v refers to, transitively.
func collect(v any, defs map[string]schema, reached map[string]any) {
	switch t := v.(type) {
	case map[string]any:
		if ref, ok := t["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, refPrefix)
			if _, done := reached[name]; !done {
				if def, ok := defs[name]; ok {
					reached[name] = def
					collect(def, defs, reached)
				}
			}
		}
		for k, e := range t {
			if k != "definitions" {
				collect(e, defs, reached)
			}
		}
	case []any:
		for _, e := range t {
			collect(e, defs, reached)
		}
	}
}

// Dir is where Ensure keeps the schemas of one Kubernetes version under the cache of the checkout at
// root.
func Dir(root, version string) string {
	return filepath.Join(cache.Dir(root), "schemas", version)
}
