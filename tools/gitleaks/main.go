// Command gitleaks writes the redaction patterns taken from gitleaks into redact/patterns.yaml, from
// the default configuration of the gitleaks module this module pins (config.DefaultConfig, the
// gitleaks.toml gitleaks embeds, read as gitleaks reads it), and gitleaks' licence notice beside them
// (redact/LICENSE.gitleaks). The product never imports gitleaks: the rules are data in patterns.yaml,
// rewritten here when the pin moves. A module of its own, so that gitleaks' dependencies never meet
// the product's. `make generate` runs it from this directory:
//
//	go run . -redact ../../redact
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/viper"
	"github.com/zricethezav/gitleaks/v8/config"
)

// Module is the gitleaks module whose default configuration the patterns come from.
const Module = "github.com/zricethezav/gitleaks/v8"

// Rule is a gitleaks rule the redaction patterns take.
type Rule struct {
	ID string
	// Block: the rule's regex spans lines (a private key); it becomes a begin/end pattern, which
	// redacts line by line to the end marker (see blockMarkers).
	Block bool
}

// Rules are the gitleaks rules the redaction patterns take, in the order they are written: the one
// list. Not every rule fits logs: gitleaks' generic-api-key is tuned for source code with an entropy
// threshold, so the key/value patterns above the marker are the project's own.
var Rules = []Rule{
	{ID: "aws-access-token"},
	{ID: "github-pat"},
	{ID: "github-fine-grained-pat"},
	{ID: "github-oauth"},
	{ID: "github-app-token"},
	{ID: "github-refresh-token"},
	{ID: "gitlab-pat"},
	{ID: "gitlab-pat-routable"},
	{ID: "gitlab-ptt"},
	{ID: "gitlab-rrt"},
	{ID: "gitlab-deploy-token"},
	{ID: "jwt"},
	{ID: "private-key", Block: true},
}

// Marker is the line of patterns.yaml after which everything is written here.
const Marker = "  # Taken from gitleaks by tools/gitleaks (make generate), from here to the end. DO NOT EDIT below this line."

// Pattern is a redaction pattern as patterns.yaml holds it (redact.Pattern's fields this writes).
type Pattern struct {
	ID          string   `yaml:"id"`
	Source      string   `yaml:"source"`
	Description string   `yaml:"description"`
	Keywords    []string `yaml:"keywords"`
	Regex       string   `yaml:"regex"`
	SecretGroup int      `yaml:"secretGroup"`
	Begin       string   `yaml:"begin"`
	End         string   `yaml:"end"`
}

// moduleInfo is the gitleaks module's version and directory in the module cache.
type moduleInfo struct{ Version, Dir string }

// pinned asks the go command for the gitleaks module this module requires: the one compiled in.
func pinned() (moduleInfo, error) {
	out, err := exec.Command("go", "list", "-m", "-json", Module).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, exit.Stderr)
		}
		return moduleInfo{}, fmt.Errorf("go list -m %s (run from tools/gitleaks): %w", Module, err)
	}
	var m moduleInfo
	if err := json.Unmarshal(out, &m); err != nil || m.Version == "" || m.Dir == "" {
		return moduleInfo{}, fmt.Errorf("go list -m %s: no version or directory in %s", Module, out)
	}
	return m, nil
}

// Load reads gitleaks' default configuration as gitleaks does (viper, then Translate, which compiles
// every regex and lower-cases the keywords).
func Load() (config.Config, error) {
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(strings.NewReader(config.DefaultConfig)); err != nil {
		return config.Config{}, fmt.Errorf("gitleaks default config: %w", err)
	}
	var vc config.ViperConfig
	if err := v.Unmarshal(&vc); err != nil {
		return config.Config{}, fmt.Errorf("gitleaks default config: %w", err)
	}
	cfg, err := vc.Translate()
	if err != nil {
		return config.Config{}, fmt.Errorf("gitleaks default config: %w", err)
	}
	return cfg, nil
}

// Patterns converts rules of cfg (gitleaks at version) into redaction patterns; every problem is
// reported at once. A regex is taken as it is (gitleaks compiles it with Go's regexp, which is RE2);
// gitleaks' entropy thresholds and allowlists are left out, as redaction keeps fewer secrets rather
// than more.
func Patterns(cfg config.Config, version string, rules []Rule) ([]Pattern, error) {
	var out []Pattern
	var problems []string
	for _, r := range rules {
		gr, ok := cfg.Rules[r.ID]
		if !ok || gr.Regex == nil {
			problems = append(problems, fmt.Sprintf("%s: no such rule with a regex in gitleaks %s's default config", r.ID, version))
			continue
		}
		p := Pattern{ID: r.ID, Source: "gitleaks " + version + " " + r.ID, Description: gr.Description, Keywords: gr.Keywords}
		if len(p.Keywords) == 0 {
			problems = append(problems, r.ID+": no keywords: every redaction pattern needs the prefilter")
			continue
		}
		for _, k := range p.Keywords {
			if strconv.Quote(k) != `"`+k+`"` {
				problems = append(problems, fmt.Sprintf("%s: keyword %q is not plain text", r.ID, k))
			}
		}
		regex := gr.Regex.String()
		if r.Block {
			begin, end, err := blockMarkers(regex)
			if err != nil {
				problems = append(problems, r.ID+": "+err.Error())
				continue
			}
			p.Source += " (markers), as a block so that a key spanning lines is redacted line by line"
			p.Begin, p.End = begin, end
			out = append(out, p)
			continue
		}
		p.Regex = regex
		// gitleaks takes SecretGroup when set, else the first non-empty group, else the whole match.
		switch groups := gr.Regex.NumSubexp(); {
		case gr.SecretGroup > 0:
			p.SecretGroup = gr.SecretGroup
		case groups == 1:
			p.SecretGroup = 1
		case groups > 1:
			problems = append(problems, fmt.Sprintf("%s: gitleaks takes the first non-empty of %d groups, which a redaction pattern cannot say", r.ID, groups))
			continue
		}
		out = append(out, p)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return out, nil
}

// anyChar opens the body of a block rule's regex: a class of every character, newlines included.
const anyChar = `[\s\S`

// blockMarkers splits a block rule's regex before its body (the first [\s\S...] class): what comes
// before is the begin marker, and the end marker is the same with END for BEGIN. Redaction then
// replaces everything from the begin marker to the end marker, line by line.
func blockMarkers(regex string) (begin, end string, err error) {
	i := strings.Index(regex, anyChar)
	if i <= 0 {
		return "", "", fmt.Errorf("block rule without a %s...] body in %q", anyChar, regex)
	}
	begin = regex[:i]
	if strings.Count(begin, "BEGIN") != 1 {
		return "", "", fmt.Errorf("block rule's begin marker %q does not say BEGIN once", begin)
	}
	end = strings.Replace(begin, "BEGIN", "END", 1)
	for _, m := range []string{begin, end} {
		if _, err := regexp.Compile(m); err != nil {
			return "", "", fmt.Errorf("marker %q: %w", m, err)
		}
	}
	return begin, end, nil
}

// quote is a YAML single-quoted scalar.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Render writes patterns as patterns.yaml's list entries.
func Render(patterns []Pattern) []byte {
	var b bytes.Buffer
	for _, p := range patterns {
		kw := make([]string, len(p.Keywords))
		for i, k := range p.Keywords {
			kw[i] = strconv.Quote(k)
		}
		fmt.Fprintf(&b, "  - id: %s\n    source: %s\n", p.ID, p.Source)
		if p.Description != "" {
			fmt.Fprintf(&b, "    description: %s\n", quote(p.Description))
		}
		fmt.Fprintf(&b, "    keywords: [%s]\n", strings.Join(kw, ", "))
		if p.Begin != "" {
			fmt.Fprintf(&b, "    begin: %s\n    end: %s\n", quote(p.Begin), quote(p.End))
			continue
		}
		fmt.Fprintf(&b, "    regex: %s\n", quote(p.Regex))
		if p.SecretGroup > 0 {
			fmt.Fprintf(&b, "    secretGroup: %d\n", p.SecretGroup)
		}
	}
	return b.Bytes()
}

// Rewrite replaces what follows the marker line of file (patterns.yaml) with generated.
func Rewrite(file, generated []byte) ([]byte, error) {
	i := bytes.Index(file, []byte("\n"+Marker+"\n"))
	if i < 0 {
		return nil, fmt.Errorf("no line %q", Marker)
	}
	head := file[:i+len(Marker)+2]
	return append(bytes.Clone(head), generated...), nil
}

// Generate computes redact/patterns.yaml (from its current content, for the part above the marker)
// and redact/LICENSE.gitleaks, and says how many patterns came from which version.
func Generate(patternsFile []byte) (patterns, license []byte, summary string, err error) {
	mod, err := pinned()
	if err != nil {
		return nil, nil, "", err
	}
	cfg, err := Load()
	if err != nil {
		return nil, nil, "", err
	}
	ps, err := Patterns(cfg, mod.Version, Rules)
	if err != nil {
		return nil, nil, "", err
	}
	if patterns, err = Rewrite(patternsFile, Render(ps)); err != nil {
		return nil, nil, "", err
	}
	if license, err = os.ReadFile(filepath.Join(mod.Dir, "LICENSE")); err != nil {
		return nil, nil, "", fmt.Errorf("gitleaks' licence: %w", err)
	}
	return patterns, license, fmt.Sprintf("%d patterns from gitleaks %s", len(ps), mod.Version), nil
}

func main() {
	dir := flag.String("redact", "../../redact", "the redact package's directory, which holds patterns.yaml and LICENSE.gitleaks")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gitleaks patterns:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	patternsPath, licensePath := filepath.Join(dir, "patterns.yaml"), filepath.Join(dir, "LICENSE.gitleaks")
	current, err := os.ReadFile(patternsPath)
	if err != nil {
		return err
	}
	patterns, license, summary, err := Generate(current)
	if err != nil {
		return fmt.Errorf("%s: %w", patternsPath, err)
	}
	for path, data := range map[string][]byte{patternsPath: patterns, licensePath: license} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("gitleaks patterns: %s, into %s and %s\n", summary, patternsPath, licensePath)
	return nil
}
