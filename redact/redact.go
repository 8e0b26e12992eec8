// Package redact removes secrets from text before it leaves a component: CRD status messages, audit
// records, structured logs, Events, step logs. The patterns are data (patterns.yaml, embedded here and
// rendered into the chart's redaction ConfigMap), so that every Kubernaut component redacts the same way.
//
// Redaction works line by line (a secret never spans a line, except a private key block, which is
// tracked across lines), with a keyword prefilter so that the regexes only run on lines that could hold
// a secret. Redact and the streaming Writer give the same output for the same text. Only the secret
// part of a match is replaced, so `password: [REDACTED]` still says what was there.
package redact

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

//go:embed patterns.yaml
var shipped []byte

//go:embed LICENSE.gitleaks
var gitleaksLicense []byte

// GitleaksLicense is the licence notice of the patterns taken from gitleaks, shipped with them.
func GitleaksLicense() []byte { return bytes.Clone(gitleaksLicense) }

// PatternsYAML is the shipped pattern file, for the chart's ConfigMap.
func PatternsYAML() []byte { return bytes.Clone(shipped) }

// File is the pattern file's format.
type File struct {
	Replacement string    `json:"replacement"`
	Patterns    []Pattern `json:"patterns"`
}

// Pattern is one secret pattern; see patterns.yaml for the meaning of each field.
type Pattern struct {
	ID          string   `json:"id"`
	Source      string   `json:"source"`
	Description string   `json:"description,omitempty"`
	Keywords    []string `json:"keywords"`
	Regex       string   `json:"regex,omitempty"`
	SecretGroup int      `json:"secretGroup,omitempty"`
	Allow       string   `json:"allow,omitempty"`
	Begin       string   `json:"begin,omitempty"`
	End         string   `json:"end,omitempty"`
	// KeyAnchored says the pattern matches `key<sep>value` where a keyword ends the key: the regex is
	// only tried at the start of a key whose keyword is followed (after quotes and blanks) by ':' or
	// '='. An optimisation that gives the regex's own matches: most lines with a keyword have no such
	// key, and Go's regexp is slow to find a match that starts with a character class.
	KeyAnchored bool `json:"keyAnchored,omitempty"`
}

// Redactor applies a compiled pattern file. It is safe for concurrent use.
type Redactor struct {
	replacement []byte
	patterns    []compiled
	blocks      []block
	// keywords of every pattern, for the per-line prefilter, and by first byte for the one-pass scan.
	keywords [][]byte
	byFirst  [256][]int
}

type compiled struct {
	id       string
	re       *regexp.Regexp
	anchored *regexp.Regexp // re anchored at the start, for KeyAnchored patterns
	group    int
	allow    *regexp.Regexp
	keywords []int // indexes into Redactor.keywords
}

type block struct {
	id         string
	begin, end *regexp.Regexp
	keyword    []int
}

// New compiles a pattern file; every problem is reported at once.
func New(data []byte) (*Redactor, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("redaction patterns: %w", err)
	}
	if f.Replacement == "" {
		return nil, fmt.Errorf("redaction patterns: replacement is empty")
	}
	r := &Redactor{replacement: []byte(f.Replacement)}
	index := map[string]int{}
	kw := func(words []string) []int {
		var out []int
		for _, w := range words {
			w = strings.ToLower(w)
			i, ok := index[w]
			if !ok {
				i = len(r.keywords)
				index[w] = i
				r.keywords = append(r.keywords, []byte(w))
			}
			out = append(out, i)
		}
		return out
	}
	var problems []string
	bad := func(p Pattern, format string, args ...any) {
		problems = append(problems, p.ID+": "+fmt.Sprintf(format, args...))
	}
	for _, p := range f.Patterns {
		if len(p.Keywords) == 0 {
			bad(p, "no keywords: every pattern needs the prefilter")
		}
		if p.Begin != "" || p.End != "" {
			b, err := regexp.Compile(p.Begin)
			if err != nil {
				bad(p, "begin: %v", err)
				continue
			}
			e, err := regexp.Compile(p.End)
			if err != nil || p.End == "" {
				bad(p, "end: %v", err)
				continue
			}
			r.blocks = append(r.blocks, block{id: p.ID, begin: b, end: e, keyword: kw(p.Keywords)})
			continue
		}
		re, err := regexp.Compile(p.Regex)
		if err != nil {
			bad(p, "regex: %v", err)
			continue
		}
		if p.SecretGroup < 0 || p.SecretGroup > re.NumSubexp() {
			bad(p, "secretGroup %d, the regex has %d groups", p.SecretGroup, re.NumSubexp())
			continue
		}
		c := compiled{id: p.ID, re: re, group: p.SecretGroup, keywords: kw(p.Keywords)}
		if p.KeyAnchored {
			c.anchored = regexp.MustCompile("^(?:" + p.Regex + ")") // compiles: re did
		}
		if p.Allow != "" {
			if c.allow, err = regexp.Compile("^(?:" + p.Allow + ")$"); err != nil {
				bad(p, "allow: %v", err)
				continue
			}
		}
		r.patterns = append(r.patterns, c)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("redaction patterns: %s", strings.Join(problems, "; "))
	}
	for i, k := range r.keywords {
		if len(k) == 0 {
			return nil, fmt.Errorf("redaction patterns: empty keyword")
		}
		r.byFirst[k[0]] = append(r.byFirst[k[0]], i)
	}
	return r, nil
}

// scan marks which keywords occur in lower, in one pass over it.
func (r *Redactor) scan(present []bool, lower []byte) []bool {
	present = append(present[:0], make([]bool, len(r.keywords))...)
	for i, c := range lower {
		for _, k := range r.byFirst[c] {
			if !present[k] && bytes.HasPrefix(lower[i:], r.keywords[k]) {
				present[k] = true
			}
		}
	}
	return present
}

var defaultRedactor = func() *Redactor {
	r, err := New(shipped)
	if err != nil {
		panic("shipped redaction patterns: " + err.Error()) // caught by the package's tests
	}
	return r
}()

// Default is the Redactor of the shipped patterns.
func Default() *Redactor { return defaultRedactor }

// Redact redacts s with the shipped patterns.
func Redact(s string) string { return defaultRedactor.Redact(s) }

// Redact returns s with every secret replaced.
func (r *Redactor) Redact(s string) string {
	var out bytes.Buffer
	out.Grow(len(s))
	st := &state{}
	data := []byte(s)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		r.line(&out, line, st)
	}
	return out.String()
}

// state is what carries from one line to the next: an open block.
type state struct {
	inBlock *block
	lower   []byte
	present []bool
}

// maxPasses bounds the repetition that makes redaction idempotent: a line is redacted again until it
// no longer changes (a replacement can end a match that hid another).
const maxPasses = 4

// line redacts one line (with its newline, if any) into out.
func (r *Redactor) line(out *bytes.Buffer, line []byte, st *state) {
	body, nl := line, []byte(nil)
	if n := len(body); n > 0 && body[n-1] == '\n' {
		body, nl = body[:n-1], body[n-1:]
	}
	if st.inBlock != nil {
		loc := st.inBlock.end.FindIndex(body)
		if loc == nil {
			return // inside a private key: dropped
		}
		st.inBlock = nil
		body = body[loc[0]:]
		// The end marker and the rest of the line, itself redacted (it may open another block).
		end := loc[1] - loc[0]
		out.Write(body[:end])
		r.rest(out, body[end:], st)
		out.Write(nl)
		return
	}
	r.rest(out, body, st)
	out.Write(nl)
}

// rest redacts text outside any block, opening one if a begin marker appears.
func (r *Redactor) rest(out *bytes.Buffer, body []byte, st *state) {
	st.lower = lowerASCII(st.lower[:0], body)
	st.present = r.scan(st.present, st.lower)
	for i := range r.blocks {
		b := &r.blocks[i]
		if !anyPresent(st.present, b.keyword) {
			continue
		}
		loc := b.begin.FindIndex(body)
		if loc == nil {
			continue
		}
		out.Write(r.patternsOn(body[:loc[0]], nil))
		out.Write(body[loc[0]:loc[1]])
		out.Write(r.replacement)
		after := body[loc[1]:]
		if e := b.end.FindIndex(after); e != nil {
			out.Write(after[e[0]:e[1]])
			r.rest(out, after[e[1]:], st)
			return
		}
		st.inBlock = b
		return
	}
	out.Write(r.patternsOn(body, st))
}

// patternsOn applies the line patterns until the text stops changing. st, when given, holds the
// text's lower-case form and keywords already.
func (r *Redactor) patternsOn(text []byte, st *state) []byte {
	for pass := range maxPasses {
		var lower []byte
		var present []bool
		if pass == 0 && st != nil {
			lower, present = st.lower, st.present
		} else {
			lower = lowerASCII(nil, text)
			present = r.scan(nil, lower)
		}
		next, changed := r.pass(text, lower, present)
		if !changed {
			return text
		}
		text = next
	}
	return text
}

func (r *Redactor) pass(text, lower []byte, present []bool) ([]byte, bool) {
	changed := false
	for i := range r.patterns {
		p := &r.patterns[i]
		if !anyPresent(present, p.keywords) {
			continue
		}
		var matches [][]int
		if p.anchored != nil {
			matches = r.keyMatches(p, text, lower, present)
		} else {
			matches = p.re.FindAllSubmatchIndex(text, -1)
		}
		if matches == nil {
			continue
		}
		var out []byte
		last := 0
		for _, m := range matches {
			start, end := m[2*p.group], m[2*p.group+1]
			if start < 0 || start < last {
				continue
			}
			secret := text[start:end]
			if bytes.Equal(secret, r.replacement) || (p.allow != nil && p.allow.Match(secret)) {
				continue
			}
			out = append(out, text[last:start]...)
			out = append(out, r.replacement...)
			last = end
		}
		if out == nil {
			continue
		}
		out = append(out, text[last:]...)
		text, changed = out, true
		lower = lowerASCII(lower[:0], text)
	}
	return text, changed
}

// keyMatches finds a KeyAnchored pattern's matches: at each keyword that ends a key (a separator
// follows), the anchored regex is tried from the start of that key, one character earlier for the
// boundary or quote the pattern may start with. Keywords the line's scan did not find are not looked
// for, as pass skips a pattern none of whose keywords it found: a line holds few of a pattern's many.
func (r *Redactor) keyMatches(p *compiled, text, lower []byte, present []bool) [][]int {
	var found [][]int
	for _, k := range p.keywords {
		if !present[k] {
			continue
		}
		word := r.keywords[k]
		for from := 0; ; {
			i := bytes.Index(lower[from:], word)
			if i < 0 {
				break
			}
			at := from + i
			from = at + 1
			if !separatorFollows(lower, at+len(word)) {
				continue
			}
			start := at
			for start > 0 && keyChar(lower[start-1]) {
				start--
			}
			for _, s := range []int{max(0, start-1), start} {
				m := p.anchored.FindSubmatchIndex(text[s:])
				if m == nil {
					continue
				}
				for j := range m {
					if m[j] >= 0 {
						m[j] += s
					}
				}
				found = append(found, m)
				break
			}
		}
	}
	// Left to right, without overlaps, as FindAll gives them.
	slices.SortStableFunc(found, func(a, b []int) int { return a[0] - b[0] })
	var out [][]int
	last := 0
	for _, m := range found {
		if m[0] >= last && m[1] > m[0] {
			out = append(out, m)
			last = m[1]
		}
	}
	return out
}

func separatorFollows(lower []byte, i int) bool {
	for ; i < len(lower); i++ {
		switch lower[i] {
		case '"', '\'', ' ', '\t':
			continue
		case ':', '=':
			return true
		}
		return false
	}
	return false
}

func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
}

func anyPresent(present []bool, keywords []int) bool {
	for _, k := range keywords {
		if present[k] {
			return true
		}
	}
	return false
}

// lowerASCII lower-cases ASCII letters into dst; other bytes are copied (keywords are ASCII).
func lowerASCII(dst, src []byte) []byte {
	dst = append(dst, src...)
	for i, c := range dst {
		if 'A' <= c && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// Writer is the streaming form: it redacts complete lines as they are written to it and passes them
// on; Close redacts and writes what remains. A line longer than MaxLine is redacted in MaxLine pieces.
type Writer struct {
	r   *Redactor
	w   io.Writer
	buf []byte
	out bytes.Buffer
	st  state
}

// MaxLine bounds the memory a Writer holds for one line.
const MaxLine = 1 << 20

// NewWriter redacts everything written to it into w.
func (r *Redactor) NewWriter(w io.Writer) *Writer { return &Writer{r: r, w: w} }

func (w *Writer) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	w.out.Reset()
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) < MaxLine {
				break
			}
			i = MaxLine - 1
		}
		w.r.line(&w.out, w.buf[:i+1], &w.st)
		w.buf = w.buf[i+1:]
	}
	// Keep the partial line, not the whole backing array of everything written so far.
	w.buf = append([]byte(nil), w.buf...)
	if _, err := w.w.Write(w.out.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close redacts and writes the last, unterminated line. It does not close the underlying writer.
func (w *Writer) Close() error {
	w.out.Reset()
	if len(w.buf) > 0 {
		w.r.line(&w.out, w.buf, &w.st)
		w.buf = nil
	}
	_, err := w.w.Write(w.out.Bytes())
	return err
}

// Copy redacts src into dst, streaming.
func (r *Redactor) Copy(dst io.Writer, src io.Reader) (int64, error) {
	w := r.NewWriter(dst)
	n, err := io.Copy(w, src)
	if err != nil {
		return n, err
	}
	return n, w.Close()
}
