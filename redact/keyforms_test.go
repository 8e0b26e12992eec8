package redact_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/jordigilh/kubernaut-execution/redact"
)

// form is one line and its exact redaction; a negative control has want == text.
type form struct{ name, text, want string }

// kept is a negative control: text that must come out unchanged.
func kept(name, text string) form { return form{name, text, text} }

func checkForms(t *testing.T, forms []form) {
	t.Helper()
	for _, tc := range forms {
		t.Run(tc.name, func(t *testing.T) {
			got := redact.Redact(tc.text)
			require.Equal(t, tc.want, got)
			require.Equal(t, got, redact.Redact(got), "idempotent")
			require.Equal(t, got, stream(t, tc.text), "the streaming form agrees")
		})
	}
}

// Keys ending in _key or -key, any case, in env, YAML, logfmt and JSON forms.
func TestRedactKeySuffix(t *testing.T) {
	checkForms(t, []form{
		{"env upper", "SIGNING_KEY=abc123", "SIGNING_KEY=[REDACTED]"},
		{"yaml snake", "stripe_secret_key: sk_test_4eC39HqLyjWDarjtT1zdp7dc", "stripe_secret_key: [REDACTED]"},
		{"yaml kebab", "  encryption-key: s3cr3t", "  encryption-key: [REDACTED]"},
		{"quoted value", `MASTER_KEY="k3y"`, `MASTER_KEY="[REDACTED]"`},
		{"logfmt", "msg=start webhook_key=abc user=x", "msg=start webhook_key=[REDACTED] user=x"},
		{"json with spaces", `{"signing_key": "k3y value", "user": "x"}`, `{"signing_key": "[REDACTED]", "user": "x"}`},
		{"json upper", `{"LICENSE_KEY":"XXXX-1234"}`, `{"LICENSE_KEY":"[REDACTED]"}`},
		{"existing: api key", "API_KEY=sk_live_abcdef", "API_KEY=[REDACTED]"},
		{"existing: aws access key json", `"aws_access_key": "abc def"`, `"aws_access_key": "[REDACTED]"`},

		kept("keyboard", "keyboard=us"),
		kept("monkey", "monkey=1"),
		kept("hotkey", "hotkey: F5"),
		kept("bare key", "key: app"),
		kept("toleration key", "  - key: node-role.kubernetes.io/control-plane"),
		kept("secretKeyRef key", "      key: api_key"),
		kept("camelCase topologyKey", "topologyKey: kubernetes.io/hostname"),
		kept("key count", "key_count: 4"),
		kept("path value", "ssl_key: /etc/ssl/private/tls.key"),
		kept("placeholder", "signing_key: ${SIGNING_KEY}"),
		kept("none", "signing_key: <none>"),
		kept("replicas", "replicas: 3"),
		kept("json plain key", `{"key":"app","replicas":3}`),
		kept("object value", `"bare_key": {"type": "string"},`),
		kept("array value", `"list_key": ["a", "b"],`),
	})
}

// Keys named pass or pw, alone or as the last word of a key (DB_PASS, MYSQL_PW), any case; and the
// existing password, passwd, pwd.
func TestRedactPassKeys(t *testing.T) {
	checkForms(t, []form{
		{"env DB_PASS", "DB_PASS=hunter2", "DB_PASS=[REDACTED]"},
		{"env MYSQL_PW", "MYSQL_PW=x", "MYSQL_PW=[REDACTED]"},
		{"yaml pw", "pw: s3cret", "pw: [REDACTED]"},
		{"yaml pass indented", `    pass: "s3cret"`, `    pass: "[REDACTED]"`},
		{"env PASS", "PASS=hunter2", "PASS=[REDACTED]"},
		{"dotted", "smtp.pass = hunter2", "smtp.pass = [REDACTED]"},
		{"kebab", "redis-pass: abc", "redis-pass: [REDACTED]"},
		{"logfmt bare", "user=bob pass=hunter2 host=db", "user=bob pass=[REDACTED] host=db"},
		{"query string", "GET /login?user=bob&pw=hunter2&next=/", "GET /login?user=bob&pw=[REDACTED]&next=/"},
		{"inline map", "{user: bob, pass: hunter2}", "{user: bob, pass: [REDACTED]}"},
		{"json bare", `{"pass":"a b"}`, `{"pass":"[REDACTED]"}`},
		{"json suffix", `{"db_pw": "x y"}`, `{"db_pw": "[REDACTED]"}`},
		{"capitalised", "Pass: s3cret", "Pass: [REDACTED]"},
		{"logfmt upper", "user=bob PASS=hunter2", "user=bob PASS=[REDACTED]"},
		{"yaml list item", "  - pw: s3cret", "  - pw: [REDACTED]"},
		{"existing: Password mixed case", "PassWord: x", "PassWord: [REDACTED]"},
		{"existing: passwd", "Passwd=abc", "Passwd=[REDACTED]"},
		{"existing: pwd", "PWD = abc", "PWD = [REDACTED]"},

		kept("passthrough", "passthrough: tcp"),
		kept("bypass", "bypass: cache"),
		kept("compass", "compass=north"),
		kept("passes", "passes: 3"),
		kept("passive", "mode: passive"),
		kept("pwm", "pwm: 50"),
		kept("go test pass", "--- PASS: TestRedact (0.00s)"),
		kept("go test json", `{"Action":"output","Output":"--- PASS: TestRedact (0.00s)\n"}`),
		kept("opa test", "PASS: 4/4"),
		kept("pass count mid-line", "health checks pass: 3/3"),
		kept("pass boolean", "DB_PASS=true"),
		kept("pwd path", "PWD=/home/kubernaut"),
		kept("replicas", "replicas: 3"),
	})
}

// Redis: requirepass and masterauth in redis.conf, on the command line, CONFIG SET, and as YAML or
// JSON keys.
func TestRedactRedisAuth(t *testing.T) {
	checkForms(t, []form{
		{"redis.conf requirepass", "requirepass foobared", "requirepass [REDACTED]"},
		{"redis.conf quoted", `requirepass "foo bar"`, "requirepass [REDACTED]"},
		{"redis.conf masterauth", "masterauth s3cret", "masterauth [REDACTED]"},
		{"command line", "redis-server --requirepass s3cret --port 6379", "redis-server --requirepass [REDACTED] --port 6379"},
		{"config set", "CONFIG SET requirepass s3cret", "CONFIG SET requirepass [REDACTED]"},
		{"container args", `args: ["--requirepass", "s3cret"]`, `args: ["--requirepass", [REDACTED]]`},
		{"yaml key", "masterauth: s3cret", "masterauth: [REDACTED]"},
		{"env", "REDIS_REQUIREPASS=s3cret", "REDIS_REQUIREPASS=[REDACTED]"},

		kept("no password", `requirepass ""`),
		kept("commented placeholder", "# masterauth <master-password>"),
		kept("prose", `# If the master is password protected (using the "requirepass" configuration`),
		kept("env expansion", `args: ["--requirepass", "$(REDIS_PASSWORD)"]`),
		kept("masteruser", "masteruser default"),
	})
}

// htpasswd entries (and shadow-style crypt hashes): the hash goes, the user name stays.
func TestRedactHtpasswd(t *testing.T) {
	checkForms(t, []form{
		{"apr1", "admin:$apr1$Vq3Kx0Qe$v5bPRqnGDayNcf7Bch2t4/", "admin:[REDACTED]"},
		{"md5 crypt", "admin:$1$abcdefgh$vhxKZ/s1ygZHyCEDPyqtQ/", "admin:[REDACTED]"},
		{"sha1", "admin:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=", "admin:[REDACTED]"},
		{"salted sha1", "admin:{SSHA}gK+fFFujqnweTpwCQ7Sp02gQxCJzYWx0", "admin:[REDACTED]"},
		{"bcrypt 2y", "admin:$2y$05$YaK09hPaQDcDskV/behRLun5qAoM07an867cbdWM5F8IWgYoU8vCm", "admin:[REDACTED]"},
		{"bcrypt 2a", "bob:$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "bob:[REDACTED]"},
		{"sha256 crypt", "u:$5$saltsalt$OIdfjX.u4Y3SJ4I2bX8w5BMf1VAUhHABNUirScDzZi3", "u:[REDACTED]"},
		{"sha512 crypt in shadow", "root:$6$saltsalt$8iYtNHxjWRl.NF6oNZ5tF.iKFlQREaXBLlSmZKP6dy9l5z3vsooWNW0/GZ6Nej73/TFug6pIPSqbJoCT6dfnj.:19000:0:99999:7:::",
			"root:[REDACTED]:19000:0:99999:7:::"},
		{"sha256 crypt with rounds", "u:$5$rounds=5000$saltsalt$OIdfjX.u4Y3SJ4I2bX8w5BMf1VAUhHABNUirScDzZi3", "u:[REDACTED]"},
		{"two entries", "alice:$apr1$Vq3Kx0Qe$v5bPRqnGDayNcf7Bch2t4/\nbob:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0=\n", "alice:[REDACTED]\nbob:[REDACTED]\n"},

		kept("passwd entry", "root:x:0:0:root:/root:/sbin/nologin"),
		kept("truncated", "admin:$apr1$"),
		kept("sha prefix only", "digest {SHA} of the file"),
		kept("shell", `echo "$1$2$3"`),
		kept("image digest", "image: registry.k8s.io/kubectl@sha256:2f0b6c0e4a7e0b9c59c6e1b3d6c8f2a1e4c3b5a6d7e8f9a0b1c2d3e4f5a6b7c8"),
	})
}

// key = value with blanks around the separator (INI, TOML, properties), beside key=value and key: value.
func TestRedactSpacedAssignments(t *testing.T) {
	checkForms(t, []form{
		{"ini password", "password = hunter2", "password = [REDACTED]"},
		{"ini secret_key", "secret_key = abc", "secret_key = [REDACTED]"},
		{"upper SECRET_KEY", "SECRET_KEY = abc", "SECRET_KEY = [REDACTED]"},
		{"toml quoted", `api_key = "abc"`, `api_key = "[REDACTED]"`},
		{"ini db_pass", "db_pass = hunter2", "db_pass = [REDACTED]"},
		{"ini pw", "pw = s3cret", "pw = [REDACTED]"},
		{"tabs", "private_key\t=\tabc", "private_key\t=\t[REDACTED]"},
		{"properties", "spring.datasource.password = s3cret", "spring.datasource.password = [REDACTED]"},
		{"no blanks", "secret_key=abc", "secret_key=[REDACTED]"},

		kept("replicas", "replicas = 3"),
		kept("keyboard", "keyboard = us"),
		kept("monkey", "monkey = 1"),
		kept("timeout", "timeout = 30s"),
		kept("passthrough", "passthrough = tcp"),
	})
}

// The key names an audit record or a slog attribute loses the whole value of follow the patterns.
func TestSecretKeyNames(t *testing.T) {
	r := redact.Default()
	for _, k := range []string{"db_pass", "pass", "pw", "MYSQL_PW", "signing_key", "api-key", "password"} {
		require.True(t, r.SecretKey(k), k)
	}
	for _, k := range []string{"passthrough", "bypass", "monkey", "keyboard", "key", "replicas", "topologyKey"} {
		require.False(t, r.SecretKey(k), k)
	}
}
