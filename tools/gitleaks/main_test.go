package main

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/config"
	"gopkg.in/yaml.v3"
)

// redactDir holds the product's patterns.yaml and LICENSE.gitleaks.
const redactDir = "../../redact"

// check compares the patterns of file (patterns.yaml) taken from gitleaks with what rules give from
// cfg, gitleaks at version: every listed rule is in the module's config, and its pattern is the
// module's regex (or markers), keywords and secret group; every pattern sourced from gitleaks is
// listed; and what follows the marker is what make generate writes.
func check(file []byte, cfg config.Config, version string, rules []Rule) []string {
	want, err := Patterns(cfg, version, rules)
	if err != nil {
		return []string{err.Error()}
	}
	var f struct {
		Patterns []Pattern `yaml:"patterns"`
	}
	if err := yaml.Unmarshal(file, &f); err != nil {
		return []string{"patterns.yaml: " + err.Error()}
	}
	got := map[string]Pattern{}
	for _, p := range f.Patterns {
		got[p.ID] = p
	}
	var problems []string
	differs := func(id, field string, got, want any) {
		problems = append(problems, fmt.Sprintf("%s: %s is %#v in patterns.yaml, gitleaks %s has %#v", id, field, got, version, want))
	}
	for _, w := range want {
		g, ok := got[w.ID]
		switch {
		case !ok:
			problems = append(problems, w.ID+": listed in Rules, not in patterns.yaml")
			continue
		case g.Regex != w.Regex:
			differs(w.ID, "regex", g.Regex, w.Regex)
		case g.Begin != w.Begin || g.End != w.End:
			differs(w.ID, "begin/end", []string{g.Begin, g.End}, []string{w.Begin, w.End})
		case g.SecretGroup != w.SecretGroup:
			differs(w.ID, "secretGroup", g.SecretGroup, w.SecretGroup)
		case !slices.Equal(g.Keywords, w.Keywords):
			differs(w.ID, "keywords", g.Keywords, w.Keywords)
		}
	}
	for _, p := range f.Patterns {
		if strings.HasPrefix(p.Source, "gitleaks") && !slices.ContainsFunc(rules, func(r Rule) bool { return r.ID == p.ID }) {
			problems = append(problems, p.ID+": its source is gitleaks, but Rules does not list it")
		}
	}
	if regenerated, err := Rewrite(file, Render(want)); err != nil {
		problems = append(problems, "patterns.yaml: "+err.Error())
	} else if !bytes.Equal(regenerated, file) {
		problems = append(problems, "patterns.yaml below the marker is not what make generate writes from gitleaks "+version)
	}
	return problems
}

func load(t *testing.T) (config.Config, moduleInfo, []byte) {
	t.Helper()
	cfg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := pinned()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(redactDir, "patterns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, mod, file
}

// Every listed rule is in the pinned module's default config, and the committed patterns are its
// regexes, keywords and secret groups: a rule gitleaks drops or rewrites fails here until the list
// or patterns.yaml (make generate) follows.
func TestPatternsAreTheModules(t *testing.T) {
	cfg, mod, file := load(t)
	for _, r := range Rules {
		if rule, ok := cfg.Rules[r.ID]; !ok || rule.Regex == nil {
			t.Errorf("%s: not in gitleaks %s's default config", r.ID, mod.Version)
		}
	}
	for _, p := range check(file, cfg, mod.Version, Rules) {
		t.Error(p)
	}
}

// The check sees drift where there is some: a regex changed in patterns.yaml, a listed rule gone from
// the module, a gitleaks pattern the list does not name.
func TestCheckSeesDrift(t *testing.T) {
	cfg, mod, file := load(t)
	const regex, changed = `'ghp_[0-9a-zA-Z]{36}'`, `'ghp_[0-9a-zA-Z]{35}'`
	if !bytes.Contains(file, []byte(regex)) {
		t.Fatalf("patterns.yaml has no %s to change", regex)
	}
	problems := check(bytes.Replace(file, []byte(regex), []byte(changed), 1), cfg, mod.Version, Rules)
	want := `github-pat: regex is "ghp_[0-9a-zA-Z]{35}" in patterns.yaml, gitleaks ` + mod.Version + ` has "ghp_[0-9a-zA-Z]{36}"`
	if !slices.Contains(problems, want) {
		t.Errorf("a changed regex: got %q, want %q among them", problems, want)
	}

	gone := cfg
	gone.Rules = maps.Clone(cfg.Rules)
	delete(gone.Rules, "jwt")
	problems = check(file, gone, mod.Version, Rules)
	if len(problems) != 1 || !strings.Contains(problems[0], "jwt: no such rule") {
		t.Errorf("a listed rule gone from the module: got %q", problems)
	}

	unlisted := slices.DeleteFunc(slices.Clone(Rules), func(r Rule) bool { return r.ID == "gitlab-ptt" })
	problems = check(file, cfg, mod.Version, unlisted)
	if !slices.Contains(problems, "gitlab-ptt: its source is gitleaks, but Rules does not list it") {
		t.Errorf("an unlisted gitleaks pattern: got %q", problems)
	}
}

// The licence notice shipped with the patterns is the pinned module's LICENSE.
func TestLicenseIsTheModules(t *testing.T) {
	_, mod, _ := load(t)
	want, err := os.ReadFile(filepath.Join(mod.Dir, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(redactDir, "LICENSE.gitleaks"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("redact/LICENSE.gitleaks is not gitleaks %s's LICENSE: run make generate", mod.Version)
	}
}

// A block rule's markers are its regex before the body, and the same with END.
func TestBlockMarkers(t *testing.T) {
	begin, end, err := blockMarkers(`(?i)-----BEGIN[ A-Z]{0,9}KEY-----[\s\S-]{64,}?KEY-----`)
	if err != nil || begin != `(?i)-----BEGIN[ A-Z]{0,9}KEY-----` || end != `(?i)-----END[ A-Z]{0,9}KEY-----` {
		t.Errorf("got %q %q %v", begin, end, err)
	}
	if _, _, err := blockMarkers(`ghp_[0-9a-zA-Z]{36}`); err == nil {
		t.Error("a regex without a body has no markers")
	}
}
