// Command gen turns the action catalogue into the chart's generated parts, the Kustomize base, the
// standalone NetworkPolicies and the RBAC matrix, and checks rendered manifests for conformance.
//
//	go run ./gen [--catalogue catalogue/actions.yaml] [--policies policies] [--out .]
//	go run ./gen check -f FILE [-f FILE ...] [--output text|json] [--require-digests] [--skip RULE ...]
//	go run ./gen owned   (the paths generation wipes and rewrites, one per line: what `make verify` compares)
//
// Generating validates the whole catalogue first; on any problem gen lists every one, exits 1 and writes
// nothing. Checking exits 0 when every document conforms, 1 on any violation, 2 when the input cannot
// be read (unparseable YAML, a document that is not a Kubernetes object).
//
// `go generate ./...` runs the generation below, so the usual Go recipe regenerates everything.
package main

//go:generate go run .

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/gen/generate"
	"github.com/jordigilh/kubernaut-execution/gen/policy"
	"github.com/jordigilh/kubernaut-execution/gen/writer"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(args[1:], stdin, stdout, stderr)
	}
	if len(args) == 1 && args[0] == "owned" {
		for _, p := range generate.Owned {
			fmt.Fprintln(stdout, p)
		}
		return 0
	}
	if err := runGenerate(args, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "gen:", err)
		return 1
	}
	return 0
}

func runGenerate(args []string, stdout, stderr io.Writer) error {
	root, err := repositoryRoot()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	cataloguePath := fs.String("catalogue", filepath.Join(root, catalogue.DefaultPath), "action catalogue to generate from")
	policies := fs.String("policies", filepath.Join(root, policy.Dir), "the catalogue's policies: <action>.rego and <action>_test.rego for each action, lib/ for the shared ones")
	out := fs.String("out", root, "output root; charts/, kustomize/base, networkpolicies/ and docs/ are written under it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	cat, err := catalogue.Load(*cataloguePath)
	if err != nil {
		return err
	}
	files, summary, err := generate.Generate(cat, root, *policies)
	if err != nil {
		return err
	}
	if err := writer.Write(*out, generate.Owned, files); err != nil {
		return err
	}
	for _, w := range summary.Warnings {
		fmt.Fprintln(stderr, "gen: warning:", w)
	}
	fmt.Fprintf(stdout, "gen: %s, under %s\n", summary, *out)
	return nil
}

// repositoryRoot finds the module root from the working directory, so gen runs the same from the root
// (`go run ./gen`), from catalogue/ (`go generate`) or from a test.
func repositoryRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, generate.ChartDir, "Chart.yaml")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the kubernaut-execution repository (no " + generate.ChartDir + "/Chart.yaml above the working directory)")
		}
		dir = parent
	}
}
