package redact

import (
	"context"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Helpers for the boundaries where text leaves a component (the seed's list): CRD status conditions,
// audit records, structured logs and Events. Each redacts in place or wraps, so a controller calls it
// at the point of writing rather than remembering which fields can carry a secret.

// Conditions redacts the messages of status conditions (a CRD's status.conditions).
func (r *Redactor) Conditions(cs []metav1.Condition) {
	for i := range cs {
		cs[i].Message = r.Redact(cs[i].Message)
	}
}

// Event redacts an events.k8s.io/v1 Event's note.
func (r *Redactor) Event(e *eventsv1.Event) { e.Note = r.Redact(e.Note) }

// CoreEvent redacts a core/v1 Event's message (client-go's record.EventRecorder writes these).
func (r *Redactor) CoreEvent(e *corev1.Event) { e.Message = r.Redact(e.Message) }

// Record redacts an audit record (a JSON object decoded into maps and slices) in place: every string is
// redacted, and the whole value of a key that looks like a secret's (password, accessToken, ...) is
// replaced, whatever it holds.
func (r *Redactor) Record(rec map[string]any) {
	for k, v := range rec {
		if r.SecretKey(k) {
			rec[k] = string(r.replacement)
			continue
		}
		rec[k] = r.value(v)
	}
}

func (r *Redactor) value(v any) any {
	switch x := v.(type) {
	case string:
		return r.Redact(x)
	case map[string]any:
		r.Record(x)
	case []any:
		for i := range x {
			x[i] = r.value(x[i])
		}
	}
	return v
}

var secretKeys sync.Map // *Redactor + key -> bool

type keyOf struct {
	r   *Redactor
	key string
}

// SecretKey reports whether a key names a secret, by the patterns themselves: whether its JSON form
// `"key":"x"` is redacted. Answers are cached; keys are few.
func (r *Redactor) SecretKey(key string) bool {
	if v, ok := secretKeys.Load(keyOf{r, key}); ok {
		return v.(bool)
	}
	probe := `"` + key + `":"x1"`
	secret := r.Redact(probe) != probe
	secretKeys.Store(keyOf{r, key}, secret)
	return secret
}

// SlogHandler wraps a log/slog handler (also the one behind logr.FromSlogHandler, which
// controller-runtime accepts) so that messages and attributes are redacted before they are written.
func (r *Redactor) SlogHandler(h slog.Handler) slog.Handler { return &slogHandler{r: r, next: h} }

type slogHandler struct {
	r    *Redactor
	next slog.Handler
}

func (h *slogHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *slogHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &slogHandler{r: h.r, next: h.next.WithAttrs(red)}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	return &slogHandler{r: h.r, next: h.next.WithGroup(name)}
}

func (h *slogHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch {
	case h.r.SecretKey(a.Key):
		return slog.String(a.Key, string(h.r.replacement))
	case v.Kind() == slog.KindGroup:
		group := v.Group()
		out := make([]any, len(group))
		for i, g := range group {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case v.Kind() == slog.KindString:
		return slog.String(a.Key, h.r.Redact(v.String()))
	case v.Kind() == slog.KindAny:
		// Errors and Stringers are rendered, then redacted: their text is what a handler would write.
		return slog.String(a.Key, h.r.Redact(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}
