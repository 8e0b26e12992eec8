package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/gen/check"
	"github.com/jordigilh/kubernaut-execution/gen/render"
	"github.com/jordigilh/kubernaut-execution/gen/schemas"
)

// Exit statuses of gen check.
const (
	exitConforms   = 0
	exitViolations = 1
	exitError      = 2
)

type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func runCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "gen check:", err)
		return exitError
	}
	root, err := repositoryRoot()
	if err != nil {
		return fail(err)
	}
	fs := flag.NewFlagSet("gen check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, skip repeated
	fs.Var(&files, "f", "rendered manifests to check; - reads standard input; repeat for several")
	fs.Var(&skip, "skip", "a rule not to report, for a render that turns a feature off on purpose; repeatable")
	output := fs.String("output", "text", "text or json")
	cataloguePath := fs.String("catalogue", filepath.Join(root, catalogue.DefaultPath), "the catalogue the render was generated from")
	kubeVersion := fs.String("kubernetes-version", render.NewestKubernetes, "Kubernetes version whose schemas to validate against")
	digests := fs.Bool("require-digests", false, "every image must be pinned by digest (production)")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if len(files) == 0 || fs.NArg() > 0 {
		return fail(errors.New("usage: gen check -f FILE [-f FILE ...] (- for standard input)"))
	}
	if *output != "text" && *output != "json" {
		return fail(fmt.Errorf("--output %q: want text or json", *output))
	}

	var docs []check.Document
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
		d, err := check.Read(name, r)
		if err != nil {
			return fail(err)
		}
		docs = append(docs, d...)
	}
	if len(docs) == 0 {
		return fail(errors.New("no documents to check"))
	}
	cat, err := catalogue.Load(*cataloguePath)
	if err != nil {
		return fail(err)
	}
	schemaDir := schemas.Dir(root, *kubeVersion)
	if err := schemas.Ensure(*kubeVersion, schemaDir); err != nil {
		return fail(err)
	}
	ctx := context.Background()
	checker, err := check.New(ctx, check.Options{Catalogue: cat, SchemaDir: schemaDir, KubernetesVersion: *kubeVersion, RequireDigests: *digests, Skip: skip})
	if err != nil {
		return fail(err)
	}
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
	return exitConforms
}
