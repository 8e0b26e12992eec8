// Command kubernaut-execution generates the bundle from the action catalogue (inside a checkout) and
// checks rendered manifests against the bundle's security model (anywhere).
//
//	kubernaut-execution generate [--catalogue FILE] [--policies DIR] [--out DIR] [--owned]
//	kubernaut-execution check -f FILE [-f FILE ...] [--output text|json] [--require-digests] [--skip RULE ...]
//	kubernaut-execution test-release [--contract DIR] [--kubeconfig FILE]
//	kubernaut-execution version
//
// Generating validates the whole catalogue first; on any problem it lists every one, exits 1 and writes
// nothing. Checking exits 0 when every document conforms, 1 on any violation, 2 when the input cannot
// be read (unparseable YAML, a document that is not a Kubernetes object). Wrong usage exits 2.
//
// `go generate ./...` runs the generation below, so the usual Go recipe regenerates everything: first
// the redaction patterns taken from gitleaks (tools/gitleaks, a module of its own), which generate
// then copies into the chart.
package main

//go:generate go -C ../../tools/gitleaks run . -redact ../../redact
//go:generate go run . generate

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/jordigilh/kubernaut-execution/catalogue"
	"github.com/jordigilh/kubernaut-execution/internal/generate"
	"github.com/jordigilh/kubernaut-execution/internal/policy"
	"github.com/jordigilh/kubernaut-execution/internal/writer"
)

// name is how the command calls itself in messages and help.
const name = "kubernaut-execution"

// Exit statuses. Wrong usage shares exitError with unreadable input: neither is a verdict on manifests.
const (
	exitOK         = 0
	exitViolations = 1 // check: violations; generate: an invalid catalogue or a failed generation
	exitError      = 2
)

const usage = `Usage: ` + name + ` <command> [flags]

Commands:
  generate   regenerate the chart's generated parts, the Kustomize base, the NetworkPolicies and the
             docs from the action catalogue (inside a checkout of the repository)
  check      check rendered manifests against the bundle's security model (anywhere, offline once the
             schemas are cached)
  test-release
             check, as the identity it runs with (the chart's helm test runs it as the controller),
             that a release grants the controller what its contract promises and nothing more
  version    print the version this binary was built from

Run '` + name + ` <command> --help' for a command's flags and examples.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "generate":
		return runGenerate(args[1:], stdout, stderr)
	case "check":
		return runCheck(args[1:], stdin, stdout, stderr)
	case "test-release":
		return runTestRelease(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, name, version())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n%s", name, args[0], usage)
	return exitError
}

// buildVersion is set by `make build` (git describe); `go install module@version` records the module
// version in the build info instead.
var buildVersion string

// version is the version this binary was built from.
func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			return "devel " + s.Value
		}
	}
	return "devel"
}

// flags is a subcommand's flag set: errors and --help go to stderr with the examples, and parse tells
// apart a help request (exit 0) from wrong usage (exit 2).
func flags(command, synopsis, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name+" "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nExamples:\n%s", examples)
	}
	return fs
}

// parse parses args. done means the caller returns status at once: help was printed (0) or the usage
// was wrong (2).
func parse(fs *flag.FlagSet, args []string) (status int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitError, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		fs.Usage()
		return exitError, true
	}
	return exitOK, false
}

const generateExamples = `  # regenerate everything after editing catalogue/actions.yaml or a policy (what 'make generate' runs)
  ` + name + ` generate
  # write the output elsewhere, to compare it with the committed files
  ` + name + ` generate --out /tmp/kubernaut-render
  # the paths generation wipes and rewrites, one per line (what 'make verify' compares)
  ` + name + ` generate --owned
`

func runGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flags("generate", "generate [--catalogue FILE] [--policies DIR] [--out DIR] [--owned]", generateExamples, stderr)
	cataloguePath := fs.String("catalogue", "", "action catalogue to generate from (default: "+catalogue.DefaultPath+" in the checkout)")
	policies := fs.String("policies", "", "the catalogue's policies: <action>.rego and <action>_test.rego for each action, lib/ for the shared ones (default: "+policy.Dir+" in the checkout)")
	out := fs.String("out", "", "output root (default: the repository root); charts/, kustomize/, networkpolicies/ and docs/ are written under it")
	owned := fs.Bool("owned", false, "print the paths generation owns (wipes and rewrites), one per line, and exit")
	if status, done := parse(fs, args); done {
		return status
	}
	if *owned {
		fmt.Fprintln(stdout, strings.Join(generate.Owned, "\n"))
		return exitOK
	}
	if err := generateAll(*cataloguePath, *policies, *out, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "%s generate: %v\n", name, err)
		return exitViolations
	}
	return exitOK
}

func generateAll(cataloguePath, policies, out string, stdout, stderr io.Writer) error {
	root, err := repositoryRoot()
	if err != nil {
		return err
	}
	orDefault := func(p, inCheckout string) string {
		if p == "" {
			return filepath.Join(root, inCheckout)
		}
		return p
	}
	out = orDefault(out, "")
	cat, err := catalogue.Load(orDefault(cataloguePath, catalogue.DefaultPath))
	if err != nil {
		return err
	}
	files, summary, err := generate.Generate(cat, root, orDefault(policies, policy.Dir))
	if err != nil {
		return err
	}
	if err := writer.Write(out, generate.Owned, files); err != nil {
		return err
	}
	for _, w := range summary.Warnings {
		fmt.Fprintf(stderr, "%s generate: warning: %s\n", name, w)
	}
	fmt.Fprintf(stdout, "%s generate: %s, under %s\n", name, summary, out)
	return nil
}

// errNoCheckout says where generate must run; check does not need a checkout.
var errNoCheckout = errors.New("not inside a checkout of the kubernaut-execution repository (no " + generate.ChartDir + "/Chart.yaml above the working directory); generate needs one, check does not")

// repositoryRoot finds the repository root from the working directory, so generate runs the same from
// the root, from cmd/kubernaut-execution (`go generate`) or from a test.
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
			return "", errNoCheckout
		}
		dir = parent
	}
}
