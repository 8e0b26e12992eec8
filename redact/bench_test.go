package redact_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/jordigilh/kubernaut-execution/redact"
)

// mixedLog is 10 MiB of what a controller and its action pods log: kubectl output, JSON structured
// logs, Events, YAML, with a secret on about one line in fifty. Deterministic (fixed seed).
var mixedLog = sync.OnceValue(func() string {
	r := rand.New(rand.NewPCG(1, 2))
	lines := []func(i int) string{
		func(i int) string {
			return fmt.Sprintf("web-%d-7d4b9-x2x%d          1/1     Running   0          %dm", i, i%10, i%60)
		},
		func(i int) string {
			return fmt.Sprintf(`{"level":"info","ts":"2026-11-29T14:%02d:00Z","msg":"reconciled","execution":"wfe-%d","action":"scale-deployment","replicas":%d,"durationMs":%d}`, i%60, i, i%10, i%500)
		},
		func(i int) string { return fmt.Sprintf("deployment.apps/web-%d scaled", i) },
		func(i int) string {
			return fmt.Sprintf("  uid: %08x-2c4d-4e5f-8a9b-0c1d2e3f4a5b\n  resourceVersion: \"%d\"\n  image: registry.k8s.io/kubectl@sha256:2f0b6c0e4a7e0b9c59c6e1b3d6c8f2a1e4c3b5a6d7e8f9a0b1c2d3e4f5a6b7c8", i, i)
		},
		func(i int) string {
			return fmt.Sprintf("Normal  Scheduled  %ds  default-scheduler  Successfully assigned shop/web-%d to worker-%d", i%90, i, i%5)
		},
		func(i int) string {
			return fmt.Sprintf("I1129 14:00:%02d.%06d  1 controller.go:%d] \"Provisioned run\" serviceAccount=\"kubernaut-execution-run-wfe-%d-abcdef0123\" automountServiceAccountToken=false", i%60, i, i%900, i)
		},
	}
	secrets := []func(i int) string{
		func(i int) string {
			return fmt.Sprintf("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ%d.c2lnbmF0dXJl%d", i, i)
		},
		func(i int) string { return fmt.Sprintf("kubectl --token=tok%d get pods", i) },
		func(i int) string {
			return fmt.Sprintf(`{"level":"debug","msg":"config","password":"p%d","user":"app"}`, i)
		},
		func(i int) string { return fmt.Sprintf("DATABASE_URL=postgres://app:pw%d@db:5432/app", i) },
		func(i int) string { return fmt.Sprintf("run %d using AKIAIOSFODNN7EXAMPLE", i) },
	}
	var b strings.Builder
	for i := 0; b.Len() < 10<<20; i++ {
		if r.IntN(50) == 0 {
			b.WriteString(secrets[r.IntN(len(secrets))](i))
		} else {
			b.WriteString(lines[r.IntN(len(lines))](i))
		}
		b.WriteByte('\n')
	}
	return b.String()
})

// BenchmarkRedact10MiB: the shipped patterns through Redact and through the streaming Writer, and the
// seed's regex list, on the same 10 MiB mixed log; MB/s from SetBytes.
func BenchmarkRedact10MiB(b *testing.B) {
	log := mixedLog()
	b.Run("shipped", func(b *testing.B) {
		b.SetBytes(int64(len(log)))
		for b.Loop() {
			_ = redact.Redact(log)
		}
	})
	b.Run("shipped-stream", func(b *testing.B) {
		b.SetBytes(int64(len(log)))
		for b.Loop() {
			if _, err := redact.Default().Copy(io.Discard, strings.NewReader(log)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seed", func(b *testing.B) {
		b.SetBytes(int64(len(log)))
		for b.Loop() {
			_ = seedRedact(log)
		}
	})
}

// The mixed log's secrets are all gone after redaction, so the benchmark measures a redaction that works.
func TestMixedLogIsRedacted(t *testing.T) {
	out := redact.Redact(mixedLog())
	for _, leak := range []string{"Bearer eyJ", "--token=tok", `"password":"p`, "app:pw", "AKIAIOSFODNN7EXAMPLE"} {
		if strings.Contains(out, leak) {
			t.Fatalf("%q survived", leak)
		}
	}
}
