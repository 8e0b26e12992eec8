package manifest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
)

// A document as a test names it: where, what, and its text.
type doc struct {
	Location, Kind, Namespace, Name, YAML string
}

func docsOf(docs []manifest.Document) []doc {
	out := make([]doc, 0, len(docs))
	for _, d := range docs {
		out = append(out, doc{d.Location(), d.Kind(), d.Namespace(), d.Name(), string(d.YAML)})
	}
	return out
}

// A ConfigMap carrying a multi-document YAML stream in a block scalar: its "---" lines are indented, as
// YAML requires of a block scalar's content, so they are text, not separators.
const blockScalar = `apiVersion: v1
kind: ConfigMap
metadata:
  name: streams
data:
  literal: |
    a: 1
    ---
    b: 2
    --- # still text
  folded: >-
    one
    ---
    two
`

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []doc
	}{
		{
			name: "documents in stream order, blank and comment-only ones skipped",
			in:   "--- # a separator may open the stream\n# leading comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: ns}\n---\n---\n# only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: a}\n",
			want: []doc{
				{"in#2", "ConfigMap", "ns", "b", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: ns}\n"},
				{"in#4", "Secret", "", "a", "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n"},
			},
		},
		{
			name: "--- inside block scalars stays in its document",
			in:   blockScalar + "---\n" + strings.Replace(blockScalar, "streams", "second", 1),
			want: []doc{{"in#1", "ConfigMap", "", "streams", blockScalar}, {"in#2", "ConfigMap", "", "second", strings.Replace(blockScalar, "streams", "second", 1)}},
		},
		{
			name: "a separator may carry a comment",
			in:   "apiVersion: v1\nkind: A\nmetadata: {name: a}\n--- # the next one\napiVersion: v1\nkind: B\nmetadata: {name: b}\n",
			want: []doc{
				{"in#1", "A", "", "a", "apiVersion: v1\nkind: A\nmetadata: {name: a}\n"},
				{"in#2", "B", "", "b", "apiVersion: v1\nkind: B\nmetadata: {name: b}\n"},
			},
		},
		{
			name: "blank lines around a document are dropped, its comments and indentation kept",
			in:   "\n\n  \n# header\n  apiVersion: v1\n  kind: A\n  metadata: {name: a}\n\n  \n",
			want: []doc{{"in#1", "A", "", "a", "# header\n  apiVersion: v1\n  kind: A\n  metadata: {name: a}\n"}},
		},
		{
			name: "a List is its items, each as JSON",
			in:   "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: A, metadata: {name: a}}\n- {apiVersion: v1, kind: B, metadata: {name: b}}\n",
			want: []doc{
				{"in#1.items[0]", "A", "", "a", `{"apiVersion":"v1","kind":"A","metadata":{"name":"a"}}` + "\n"},
				{"in#1.items[1]", "B", "", "b", `{"apiVersion":"v1","kind":"B","metadata":{"name":"b"}}` + "\n"},
			},
		},
		{
			name: "JSON",
			in:   "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"A\",\n  \"metadata\": {\"name\": \"a\"}\n}\n",
			want: []doc{{"in#1", "A", "", "a", "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"A\",\n  \"metadata\": {\"name\": \"a\"}\n}\n"}},
		},
		{name: "empty", in: "", want: []doc{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := manifest.Read("in", strings.NewReader(tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, docsOf(docs))
		})
	}
}

// The block scalars keep their "---" lines as text.
func TestReadKeepsBlockScalars(t *testing.T) {
	docs, err := manifest.Read("in", strings.NewReader(blockScalar))
	require.NoError(t, err)
	require.Len(t, docs, 1)
	require.Equal(t, map[string]any{"literal": "a: 1\n---\nb: 2\n--- # still text\n", "folded": "one --- two"}, docs[0].Object["data"])
}

func TestReadRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in, err string }{
		{"invalid YAML", "apiVersion: v1\nkind: [A\n", "in: document 1: not valid YAML"},
		{"no name", "apiVersion: v1\nkind: A\nmetadata: {}\n", "in#1: not a Kubernetes object"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", "in#1: not a Kubernetes object"},
		{"null", "null\n", "in#1: not a Kubernetes object"},
		{"scalar", "--- just text\n", "in: document 1: invalid Yaml document separator"},
		{"List item not an object", "apiVersion: v1\nkind: List\nitems: [a]\n", "in#1: item 0 is not an object"},
		{"List item not a Kubernetes object", "apiVersion: v1\nkind: List\nitems: [{kind: A}]\n", "in#1.items[0]: not a Kubernetes object"},
		{"second document", "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\nkind: B\n", "in#2: not a Kubernetes object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := manifest.Read("in", strings.NewReader(tc.in))
			require.ErrorContains(t, err, tc.err)
			require.Nil(t, docs)
		})
	}
}

// Documents are decoded in parallel, and the error is still the first bad document's in the stream.
func TestReadReportsTheFirstBadDocument(t *testing.T) {
	stream := func(bad map[int]string) string {
		var b strings.Builder
		for i := 1; i <= 300; i++ {
			doc, ok := bad[i]
			if !ok {
				doc = fmt.Sprintf("apiVersion: v1\nkind: A\nmetadata: {name: a%d}\n", i)
			}
			b.WriteString(doc + "---\n")
		}
		return b.String()
	}
	_, err := manifest.Read("in", strings.NewReader(stream(map[int]string{
		150: "apiVersion: v1\nkind: [A\n",
		151: "apiVersion: v1\nkind: A\nmetadata: {}\n",
		299: "apiVersion: v1\nkind: A\nmetadata: {}\n",
	})))
	require.ErrorContains(t, err, "in: document 150: not valid YAML")

	docs, err := manifest.Read("in", strings.NewReader(stream(nil)))
	require.NoError(t, err)
	require.Len(t, docs, 300)
	for i, d := range docs {
		require.Equal(t, fmt.Sprintf("#%d", i+1), d.Position, "stream order")
		require.Equal(t, fmt.Sprintf("a%d", i+1), d.Name(), "stream order")
	}
}

// Join writes what Read reads back: the same objects, text and order.
func TestJoinReadsBack(t *testing.T) {
	in := "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\n" + blockScalar + "---\napiVersion: v1\nkind: B\nmetadata: {name: b}\n"
	docs, err := manifest.Read("in", strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, in, string(manifest.Join(docs)))
	again, err := manifest.Read("in", strings.NewReader(string(manifest.Join(docs))))
	require.NoError(t, err)
	require.Equal(t, docs, again)
}

func TestLabels(t *testing.T) {
	docs, err := manifest.Read("in", strings.NewReader("apiVersion: v1\nkind: A\nmetadata: {name: a, labels: {app: web}}\n---\napiVersion: v1\nkind: A\nmetadata: {name: b}\n"))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"app": "web"}, docs[0].Labels())
	require.Nil(t, docs[1].Labels())
}

// Objects become the documents a file holding them would give, typed or not, in order.
func TestFromObjects(t *testing.T) {
	docs, err := manifest.FromObjects("objs", []any{
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "a"}},
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}},
	})
	require.NoError(t, err)
	require.Len(t, docs, 2)
	for i, want := range []doc{{Location: "objs#1", Kind: "ConfigMap", Name: "a"}, {Location: "objs#2", Kind: "ServiceAccount", Namespace: "ns", Name: "b"}} {
		got := docsOf(docs)[i]
		got.YAML = ""
		require.Equal(t, want, got)
	}
	_, err = manifest.FromObjects("bad", []any{map[string]any{"kind": "NoName"}})
	require.ErrorContains(t, err, "bad#1")
}
