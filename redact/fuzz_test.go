package redact_test

import (
	"strings"
	"testing"

	"github.com/jordigilh/kubernaut-execution/redact"
)

// plants put a secret into a context each pattern class recognises; %s is the secret.
var plants = []string{
	"Authorization: Bearer %s",
	"authorization: Basic %s",
	"--token=%s",
	"--password %s",
	"password: %s",
	"client_secret=%s",
	`{"accessToken":"%s"}`,
	"postgres://user:%s@db:5432/app",
	"ghp_%s",
	"-----BEGIN RSA PRIVATE KEY-----\n%s\n-----END RSA PRIVATE KEY-----",
	"    token: %s",
	"Password=%s;",
	"DB_PASS=%s",
	"pw: %s",
	"signing_key = %s",
	"requirepass %s",
}

// secretOf makes a secret that every plant can hold: letters and digits, at least 36 of them (the
// GitHub shape), starting with "S3" so that it is never a word the patterns allow (true, none, ...).
func secretOf(seed string) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	b.WriteString("S3")
	for i := 0; b.Len() < 36; i++ {
		c := byte(i * 7)
		if i < len(seed) {
			c = seed[i]
		}
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String()
}

// FuzzRedact: on any text, redaction does not panic, is idempotent, and a secret planted in it (with a
// line of its own around it) does not survive; the streaming form gives the same output.
func FuzzRedact(f *testing.F) {
	for _, tc := range positives {
		f.Add(tc.text, "", uint8(0), "seed")
	}
	for _, n := range negatives {
		f.Add(n, n, uint8(3), "x")
	}
	f.Add("-----BEGIN PRIVATE KEY-----", "", uint8(9), "k")
	f.Add(`"password":"`, `"`, uint8(6), "q")
	f.Fuzz(func(t *testing.T, before, after string, which uint8, seed string) {
		out := redact.Redact(before)
		if again := redact.Redact(out); again != out {
			t.Fatalf("not idempotent on %q:\n%q\n%q", before, out, again)
		}
		secret := secretOf(seed)
		plant := plants[int(which)%len(plants)]
		planted := before + "\n" + strings.ReplaceAll(plant, "%s", secret) + "\n" + after
		out = redact.Redact(planted)
		if strings.Contains(out, secret[:20]) {
			t.Fatalf("secret survived in %q:\n%q", planted, out)
		}
		if again := redact.Redact(out); again != out {
			t.Fatalf("not idempotent on %q:\n%q\n%q", planted, out, again)
		}
		var b strings.Builder
		if _, err := redact.Default().Copy(&b, strings.NewReader(planted)); err != nil {
			t.Fatal(err)
		}
		if b.String() != out {
			t.Fatalf("stream differs on %q:\n%q\n%q", planted, out, b.String())
		}
	})
}
