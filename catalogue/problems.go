package catalogue

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a catalogue, located at file:line.
type Problem struct {
	File string
	Line int
	Msg  string
	// path is the YAML path the problem is about (actions[2].rules[0].verbs); it resolves to Line.
	path string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// Problems is every problem found in one catalogue; it is the error Parse returns.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, 0, len(ps)+1)
	lines = append(lines, fmt.Sprintf("invalid catalogue: %d problem(s)", len(ps)))
	for _, p := range ps {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}

// lineIndex maps YAML paths to the line their node starts on.
type lineIndex map[string]int

func indexLines(root *yaml.Node) lineIndex {
	idx := lineIndex{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		idx[path] = n.Line
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], join(path, n.Content[i].Value))
				// a key's own line wins over a block value that starts on the next line
				idx[join(path, n.Content[i].Value)] = n.Content[i].Line
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(root, "")
	return idx
}

// find returns the line of path, or of its nearest ancestor present in the file (a missing field is
// reported where its parent is).
func (idx lineIndex) find(path string) int {
	for p := path; ; {
		if line, ok := idx[p]; ok {
			return line
		}
		cut := strings.LastIndexAny(p, ".[")
		if cut < 0 {
			return idx[""]
		}
		p = p[:cut]
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlErrorLine extracts the line yaml.v3 names in its error text (it has no structured position).
func yamlErrorLine(err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
