package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/cache"
	"github.com/jordigilh/kubernaut-execution/internal/check"
	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/internal/render"
	"github.com/jordigilh/kubernaut-execution/internal/schemas"
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// SchemaDirEnv names the schema directory (the container image sets it to the schemas it ships).
const SchemaDirEnv = "KUBERNAUT_EXECUTION_SCHEMAS"

const checkExamples = `  # the chart as you would install it
  helm template kubernaut-execution oci://REGISTRY/charts/kubernaut-execution -n kubernaut-system \
    --set 'networkPolicy.apiServer.cidrs={10.96.0.1/32}' | ` + name + ` check -f -
  # a patched Kustomize overlay, with every image pinned by digest
  kustomize build overlays/production | ` + name + ` check -f - --require-digests
  # several files checked together (cross-object rules see all of them), as JSON for a CI report
  ` + name + ` check -f rbac.yaml -f workloads.yaml --output json
`

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s check: %v\n", name, err)
		return exitError
	}
	fs := flags("check", "check -f FILE [-f FILE ...] [flags]", checkExamples, stderr)
	var files, skip repeated
	fs.Var(&files, "f", "rendered manifests to check, several documents per file; - reads standard input; repeat for several files")
	fs.Var(&skip, "skip", "a rule not to report, for a render that turns a feature off on purpose; repeat for several")
	output := fs.String("output", "text", "report format: text or json")
	cataloguePath := fs.String("catalogue", "", "the catalogue the render was generated from (default: the one built into this binary)")
	kubeVersion := fs.String("kubernetes-version", render.NewestKubernetes, "Kubernetes version whose schemas to validate against")
	schemaDir := fs.String("schemas", "", "directory of the JSON schemas, one subdirectory per Kubernetes version, generated there once from the pinned Go modules when missing (default: $"+SchemaDirEnv+", else the user's cache)")
	digests := fs.Bool("require-digests", false, "every image must be pinned by digest (production)")
	minIPv4 := fs.Int("min-prefix-ipv4", check.DefaultMinPrefixLength.IPv4, "broadest IPv4 API-server ipBlock allowed: the chart's networkPolicy.apiServer.minPrefixLength.ipv4")
	minIPv6 := fs.Int("min-prefix-ipv6", check.DefaultMinPrefixLength.IPv6, "broadest IPv6 API-server ipBlock allowed: the chart's networkPolicy.apiServer.minPrefixLength.ipv6")
	if status, done := parse(fs, args); done {
		return status
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, name+" check: at least one -f FILE (- for standard input)")
		fs.Usage()
		return exitError
	}
	if *output != "text" && *output != "json" {
		return fail(fmt.Errorf("--output %q: want text or json", *output))
	}
	if *minIPv4 < 1 || *minIPv4 > 32 || *minIPv6 < 1 || *minIPv6 > 128 {
		return fail(fmt.Errorf("--min-prefix-ipv4 %d, --min-prefix-ipv6 %d: want 1 to 32 and 1 to 128", *minIPv4, *minIPv6))
	}

	cat, err := catalogue.Default()
	if *cataloguePath != "" {
		cat, err = catalogue.Load(*cataloguePath)
	}
	if err != nil {
		return fail(err)
	}
	dir, err := schemasFor(*kubeVersion, *schemaDir)
	if err != nil {
		return fail(err)
	}
	ctx := context.Background()
	// The checker compiles its rules while the input is read: in a pipeline, while the renderer writes.
	type prepared struct {
		checker *check.Checker
		err     error
	}
	ready := make(chan prepared, 1)
	go func() {
		c, err := check.New(ctx, check.Options{Catalogue: cat, SchemaDir: dir, KubernetesVersion: *kubeVersion, RequireDigests: *digests, Skip: skip,
			MinPrefixLength: check.PrefixLengths{IPv4: *minIPv4, IPv6: *minIPv6}})
		ready <- prepared{c, err}
	}()
	var docs []manifest.Document
	for _, f := range files {
		var r io.Reader = stdin
		name := "<stdin>"
		if f != "-" {
			file, err := os.Open(f)
			if err != nil {
				return fail(err)
			}
			defer file.Close()
			r, name = file, f
		}
		d, err := manifest.Read(name, r)
		if err != nil {
			return fail(err)
		}
		docs = append(docs, d...)
	}
	if len(docs) == 0 {
		return fail(errors.New("no documents to check"))
	}
	p := <-ready
	if p.err != nil {
		return fail(p.err)
	}
	checker := p.checker
	violations, err := checker.Check(ctx, docs)
	if err != nil {
		return fail(err)
	}

	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if violations == nil {
			violations = []check.Violation{}
		}
		if err := enc.Encode(map[string]any{"documents": len(docs), "violations": violations}); err != nil {
			return fail(err)
		}
	} else {
		for _, v := range violations {
			fmt.Fprintln(stdout, v)
		}
		if len(violations) == 0 {
			fmt.Fprintf(stdout, "%d documents conform (%d rules)\n", len(docs), len(check.Rules())-len(skip))
		} else {
			fmt.Fprintf(stdout, "%d violation(s) in %d documents\n", len(violations), len(docs))
		}
	}
	if len(violations) > 0 {
		return exitViolations
	}
	return exitOK
}

// schemasFor is the schema directory of a Kubernetes version: <root>/<version>, where root is the one
// given, else $SchemaDirEnv, else the checkout's cache (shared with the tests), else the user's cache.
// Schemas missing there are generated once from the pinned modules (this needs the go command and the
// module proxy) and read offline from then on; the container image ships them for both versions.
func schemasFor(version, root string) (string, error) {
	if root == "" {
		root = os.Getenv(SchemaDirEnv)
	}
	if root == "" {
		if checkout, err := repositoryRoot(); err == nil {
			root = filepath.Join(cache.Dir(checkout), "schemas")
		} else if userCache, err := os.UserCacheDir(); err == nil {
			root = filepath.Join(userCache, name, "schemas")
		} else {
			return "", fmt.Errorf("schemas: no cache directory (%w): give --schemas", err)
		}
	}
	dir := filepath.Join(root, version)
	return dir, schemas.Ensure(version, dir)
}
