// Package modules reads files of pinned Go modules (path@version) that the project takes data from
// without importing them: the Kubernetes OpenAPI spec and discovery documents, and CRDs.
package modules

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// File reads one file of a module (path@version) from its zip, fetched through the Go module proxy
// (or found in the module cache) and verified against go.sum or the checksum database by the go
// command. The zip is read directly because the go command refuses to extract a module that declares a
// newer Go than the local one (Argo CD v3.6 declares go 1.27) while it still downloads and verifies it.
func File(module, file string) ([]byte, error) {
	mod, err := download(module)
	if err != nil {
		return nil, err
	}
	z, err := zip.OpenReader(mod.Zip)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", module, err)
	}
	defer z.Close()
	f, err := z.Open(mod.Path + "@" + mod.Version + "/" + file)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", module, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("module %s: %s: %w", module, file, err)
	}
	return data, nil
}

// downloaded is what `go mod download -json` says of a module.
type downloaded struct{ Path, Version, Zip, Error string }

// download runs `go mod download -json module` for the module's verified zip. A zip it names is used
// even when the command fails: a module declaring a newer Go than the local one is still downloaded
// and verified, only not extracted. Without a zip, the error carries the command's own error, the
// Error it reported and its standard error, as each alone can be empty (a missing go command writes
// nothing; one that cannot fetch a module says so in its output).
func download(module string) (downloaded, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	var mod downloaded
	decodeErr := json.Unmarshal(out, &mod)
	if decodeErr == nil && mod.Zip != "" {
		return mod, nil
	}
	var details []string
	if mod.Error != "" {
		details = append(details, mod.Error)
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		details = append(details, "stderr: "+s)
	}
	switch {
	case runErr != nil:
		return downloaded{}, fmt.Errorf("go mod download %s: %w%s", module, runErr, joined(details))
	case decodeErr != nil:
		return downloaded{}, fmt.Errorf("go mod download %s: its output: %w%s", module, decodeErr, joined(details))
	default:
		return downloaded{}, fmt.Errorf("go mod download %s: no zip%s", module, joined(details))
	}
}

func joined(details []string) string {
	if len(details) == 0 {
		return ""
	}
	return ": " + strings.Join(details, "; ")
}
