package check

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Document is one Kubernetes object of the input.
type Document struct {
	// Source names where it came from: file and position in the stream.
	Source string
	Object map[string]any
	YAML   []byte
}

// Kind, Namespace and Name identify the object.
func (d Document) Kind() string       { return str(d.Object["kind"]) }
func (d Document) APIVersion() string { return str(d.Object["apiVersion"]) }
func (d Document) Name() string       { return str(meta(d.Object)["name"]) }
func (d Document) Namespace() string  { return str(meta(d.Object)["namespace"]) }

func meta(o map[string]any) map[string]any {
	m, _ := o["metadata"].(map[string]any)
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Read splits a YAML (or JSON) stream into documents. Unparseable YAML and a document that is not a
// Kubernetes object (no apiVersion, kind or metadata.name) are errors naming the document, never a
// silent pass. A List is expanded into its items.
func Read(name string, r io.Reader) ([]Document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []Document
	for i := 1; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("%s: document %d: not valid YAML: %w", name, i, err)
		}
		source := fmt.Sprintf("%s#%d", name, i)
		if obj["kind"] == "List" {
			items, _ := obj["items"].([]any)
			for j, item := range items {
				o, ok := item.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s: item %d is not an object", source, j)
				}
				d, err := document(fmt.Sprintf("%s.items[%d]", source, j), o, nil)
				if err != nil {
					return nil, err
				}
				docs = append(docs, d)
			}
			continue
		}
		d, err := document(source, obj, raw)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// document is one object; raw is its text as read, which the schema layer validates, or nil for a
// List item, whose text is then its JSON (valid YAML, and much cheaper to write than YAML).
func document(source string, obj map[string]any, raw []byte) (Document, error) {
	d := Document{Source: source, Object: obj, YAML: raw}
	if d.APIVersion() == "" || d.Kind() == "" || d.Name() == "" {
		return Document{}, fmt.Errorf("%s: not a Kubernetes object (apiVersion, kind and metadata.name are required)", source)
	}
	if raw != nil {
		return d, nil
	}
	data, err := json.Marshal(obj)
	d.YAML = data
	return d, err
}

func stripComments(raw []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}
