// Package manifest holds Kubernetes manifests the one way the project reads them: a YAML (or JSON)
// stream split into documents, each one object with its text and where it came from. Chart renders,
// Kustomize builds, the files `kubernaut-execution check` is given and the tests' fixtures all become
// these documents, so the checker reads a render as it reads a file.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/yaml"
)

// Document is one Kubernetes object of a stream.
type Document struct {
	// Source is what the document was read from: a file, standard input or a chart template.
	Source string
	// Position is where in Source: "#2" is its second document, "#2.items[0]" the first item of the
	// List that is its second.
	Position string
	// Object is the document decoded as JSON would be: what decoders and the Rego rules read.
	Object map[string]any
	// YAML is its text without the blank lines around it, ending in one newline (the generator writes
	// it as it is); a List item's is its JSON, which is valid YAML and cheaper to write.
	YAML []byte
}

// Location names the document in messages: its source and position.
func (d Document) Location() string { return d.Source + d.Position }

// APIVersion, Kind, Name and Namespace identify the object.
func (d Document) APIVersion() string { return str(d.Object["apiVersion"]) }
func (d Document) Kind() string       { return str(d.Object["kind"]) }
func (d Document) Name() string       { return str(d.metadata()["name"]) }
func (d Document) Namespace() string  { return str(d.metadata()["namespace"]) }

// Labels are the object's labels, nil when it has none.
func (d Document) Labels() map[string]any {
	l, _ := d.metadata()["labels"].(map[string]any)
	return l
}

func (d Document) metadata() map[string]any {
	m, _ := d.Object["metadata"].(map[string]any)
	return m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Read splits the stream r, named source, into documents, in stream order. The split is
// k8s.io/apimachinery's YAMLReader, kubectl's: a document ends only at a line that starts with "---"
// and holds nothing after it but a comment, so a "---" inside a block scalar (indented, as YAML
// requires) stays in its document. Blank and comment-only documents are skipped; unparseable YAML and
// a document that is not a Kubernetes object (no apiVersion, kind or metadata.name) are errors naming
// the document, never a silent pass. A List is expanded into its items.
//
// Documents are decoded in parallel (a chart render of a large catalogue holds thousands) and
// returned, and their errors reported, in stream order.
func Read(source string, r io.Reader) ([]Document, error) {
	type raw struct {
		index int // 1-based position in the stream
		text  []byte
		obj   map[string]any
		err   error
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var raws []*raw
	for i := 1; ; i++ {
		text, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, i, err)
		}
		if len(bytes.TrimSpace(stripComments(text))) == 0 {
			continue
		}
		raws = append(raws, &raw{index: i, text: text})
	}
	workqueue.ParallelizeUntil(context.Background(), runtime.GOMAXPROCS(0), len(raws), func(i int) {
		raws[i].err = yaml.Unmarshal(raws[i].text, &raws[i].obj)
	})
	var docs []Document
	for _, r := range raws {
		if r.err != nil {
			return nil, fmt.Errorf("%s: document %d: not valid YAML: %w", source, r.index, r.err)
		}
		position := fmt.Sprintf("#%d", r.index)
		if r.obj["kind"] == "List" {
			items, err := listItems(source, position, r.obj)
			if err != nil {
				return nil, err
			}
			docs = append(docs, items...)
			continue
		}
		d, err := document(source, position, r.obj, trim(r.text))
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func listItems(source, position string, list map[string]any) ([]Document, error) {
	items, _ := list["items"].([]any)
	out := make([]Document, 0, len(items))
	for j, item := range items {
		obj, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s%s: item %d is not an object", source, position, j)
		}
		data, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("%s%s: item %d: %w", source, position, j, err)
		}
		d, err := document(source, fmt.Sprintf("%s.items[%d]", position, j), obj, append(data, '\n'))
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func document(source, position string, obj map[string]any, text []byte) (Document, error) {
	d := Document{Source: source, Position: position, Object: obj, YAML: text}
	if d.APIVersion() == "" || d.Kind() == "" || d.Name() == "" {
		return Document{}, fmt.Errorf("%s: not a Kubernetes object (apiVersion, kind and metadata.name are required)", d.Location())
	}
	return d, nil
}

// trim drops what YAMLReader leaves before a document, blank lines and the separator line that opens
// the stream or follows another, and the blank space after it; it ends the text in one newline. Only
// whole lines go at the start: the first line's indentation is part of the YAML.
func trim(raw []byte) []byte {
	rest := raw
	for len(rest) > 0 {
		line, after, _ := bytes.Cut(rest, []byte("\n"))
		if len(bytes.TrimSpace(line)) > 0 && !isSeparator(line) {
			break
		}
		rest = after
	}
	return slices.Concat(bytes.TrimRight(rest, " \t\r\n"), []byte("\n"))
}

// isSeparator is YAMLReader's test: a line that starts with "---" (it has refused any but a comment
// after it).
func isSeparator(line []byte) bool { return bytes.HasPrefix(line, []byte("---")) }

// stripComments leaves the lines of raw that hold more than a comment or a separator; a document left
// with none is empty and skipped. Decoding cannot tell: it gives nil both for an empty document and
// for "null", which is no Kubernetes object and so an error.
func stripComments(raw []byte) []byte {
	var out [][]byte
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !isSeparator(line) {
			out = append(out, line)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// FromObjects makes documents of objects (typed API objects, or maps as a Document's Object): each
// marshalled to YAML and read back, so that its Object is what a file holding it would give.
func FromObjects[T any](source string, objs []T) ([]Document, error) {
	var b bytes.Buffer
	for i, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("%s#%d: %w", source, i+1, err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return Read(source, &b)
}

// Join writes docs as one multi-document YAML stream, which Read reads back as docs.
func Join(docs []Document) []byte {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(d.YAML)
	}
	return b.Bytes()
}
