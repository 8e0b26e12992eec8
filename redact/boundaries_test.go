package redact_test

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jordigilh/kubernaut-execution/redact"
)

const leaked = "ghp_0123456789abcdefghijABCDEFGHIJ012345"

func TestBoundaries(t *testing.T) {
	r := redact.Default()

	conds := []metav1.Condition{{Type: "Failed", Message: "kubectl --token=" + leaked + " failed"}}
	r.Conditions(conds)
	require.Equal(t, "kubectl --token=[REDACTED] failed", conds[0].Message)

	ev := &eventsv1.Event{Note: "pulled with " + leaked}
	r.Event(ev)
	require.NotContains(t, ev.Note, leaked)
	core := &corev1.Event{Message: "password: hunter2"}
	r.CoreEvent(core)
	require.Equal(t, "password: [REDACTED]", core.Message)

	rec := map[string]any{
		"action": "scale-deployment", "clientSecret": map[string]any{"nested": "x"},
		"params":  map[string]any{"note": "Authorization: Bearer abcdefgh12345678", "replicas": "3"},
		"history": []any{"ok", "token=" + leaked},
	}
	r.Record(rec)
	require.Equal(t, "[REDACTED]", rec["clientSecret"], "a secret key's whole value goes")
	require.Equal(t, "Authorization: Bearer [REDACTED]", rec["params"].(map[string]any)["note"])
	require.Equal(t, "3", rec["params"].(map[string]any)["replicas"])
	require.Equal(t, []any{"ok", "token=[REDACTED]"}, rec["history"])

	var out bytes.Buffer
	log := slog.New(r.SlogHandler(slog.NewJSONHandler(&out, nil))).With("apiKey", "k-123")
	log.Info("running kubectl --password=pw1", "error", errors.New("dial: "+leaked), slog.Group("login", "token", "t-1", "user", "bob"), "replicas", 3)
	require.NotContains(t, out.String(), leaked)
	require.NotContains(t, out.String(), "pw1")
	require.NotContains(t, out.String(), "k-123")
	require.NotContains(t, out.String(), "t-1")
	require.Contains(t, out.String(), `"user":"bob"`)
	require.Contains(t, out.String(), `"replicas":3`)
}
