// Package testenv holds what the test packages share about the repository they run in.
package testenv

import (
	"fmt"
	"os"

	"golang.org/x/mod/modfile"
)

// RequiredVersion is the version a go.mod file requires of a module.
func RequiredVersion(gomod, module string) (string, error) {
	data, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	f, err := modfile.ParseLax(gomod, data, nil)
	if err != nil {
		return "", err
	}
	for _, r := range f.Require {
		if r.Mod.Path == module {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}
