// Command gen turns the action catalogue into the chart's generated parts, the Kustomize base, the
// standalone NetworkPolicies and the RBAC matrix.
//
//	go run ./gen [--catalogue catalogue/actions.yaml] [--out .]
//
// The whole catalogue is validated first; on any problem gen lists every one, exits 1 and writes nothing.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/gen/generate"
	"github.com/jordigilh/kubernaut-execution/gen/writer"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	root, err := repositoryRoot()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	cataloguePath := fs.String("catalogue", filepath.Join(root, catalogue.DefaultPath), "action catalogue to generate from")
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
	files, summary, err := generate.Generate(cat, root)
	if err != nil {
		return err
	}
	if err := writer.Write(*out, generate.Owned, files); err != nil {
		return err
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
