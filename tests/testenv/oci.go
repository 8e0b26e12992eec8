package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/jordigilh/kubernaut-execution/internal/cache"
)

// Signer is an OpenPGP key made for one test run, to sign a chart as `helm package --sign` does:
// SecretKeyring is what `helm package --keyring` reads, PublicKeyring what `helm verify --keyring` and
// an install with verification read.
type Signer struct {
	Name, SecretKeyring, PublicKeyring string
}

// NewSigner writes a fresh key's keyrings into dir.
func NewSigner(dir string) (*Signer, error) {
	const name = "kubernaut-execution test signer"
	e, err := openpgp.NewEntity(name, "", "signer@example.org", &packet.Config{RSABits: 2048})
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	var secret, public bytes.Buffer
	if err := e.SerializePrivate(&secret, nil); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if err := e.Serialize(&public); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	s := &Signer{Name: name, SecretKeyring: filepath.Join(dir, "secring.gpg"), PublicKeyring: filepath.Join(dir, "pubring.gpg")}
	if err := os.WriteFile(s.SecretKeyring, secret.Bytes(), 0o600); err != nil {
		return nil, err
	}
	return s, os.WriteFile(s.PublicKeyring, public.Bytes(), 0o644)
}

// Helm runs the pinned helm command with its configuration, cache and data in home, so that a test
// never reads or writes the user's Helm state (repositories, registry logins).
func Helm(bin, home string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "HELM_REGISTRY_CONFIG="+filepath.Join(home, "registry.json"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %v: %w: %s", args, err, out)
	}
	return string(out), nil
}

// Registry is a CNCF Distribution registry on loopback, serving plain HTTP from a directory.
type Registry struct {
	// Host is 127.0.0.1:PORT, as oci:// references name it.
	Host string
	cmd  *exec.Cmd
}

// StartRegistry starts the registry binary with its storage and log in dir and waits until it
// answers the OCI distribution API's base endpoint. Stop stops it.
func StartRegistry(bin, dir string) (*Registry, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	host := l.Addr().String()
	if err := l.Close(); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(config, []byte("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "+
		strconv.Quote(filepath.Join(dir, "data"))+"\nhttp:\n  addr: "+host+"\n"), 0o644); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", config)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	r := &Registry{Host: host, cmd: cmd}
	err = WaitFor(context.Background(), 30*time.Second, func() error {
		resp, err := http.Get("http://" + host + "/v2/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		log, _ := os.ReadFile(logFile.Name())
		r.Stop()
		return nil, fmt.Errorf("registry on %s not ready: %w\n%s", host, err, log)
	}
	return r, nil
}

// Stop kills the registry this Registry started, by its PID, and reaps it.
func (r *Registry) Stop() {
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// Chart is a chart packaged and signed by helm, as `make package` with a key does.
type Chart struct {
	Archive, Provenance string
	Name, Version       string
}

// PackageChart packages and signs the chart in chartDir into out.
func PackageChart(helm, home, chartDir, out string, signer *Signer) (*Chart, error) {
	c, err := chartutil.LoadChartfile(filepath.Join(chartDir, chartutil.ChartfileName))
	if err != nil {
		return nil, fmt.Errorf("chart metadata: %w", err)
	}
	if _, err := Helm(helm, home, "package", chartDir, "--destination", out, "--sign", "--key", signer.Name, "--keyring", signer.SecretKeyring); err != nil {
		return nil, err
	}
	archive := filepath.Join(out, c.Name+"-"+c.Version+".tgz")
	return &Chart{Archive: archive, Provenance: archive + ".prov", Name: c.Name, Version: c.Version}, nil
}

// Push publishes the archive (with its provenance beside it) under oci://<host>/<repository> and
// returns the chart's reference, oci://<host>/<repository>/<name>.
func (c *Chart) Push(helm, home string, r *Registry, repository string) (string, error) {
	base := "oci://" + r.Host + "/" + repository
	if _, err := Helm(helm, home, "push", c.Archive, base, "--plain-http"); err != nil {
		return "", err
	}
	return base + "/" + c.Name, nil
}

// HelmAndRegistry are the pinned helm and registry commands (`make tools`), under the repository root.
func HelmAndRegistry(root string) (helm, registry string, err error) {
	dir := cache.Dir(root)
	if helm, err = Tool(dir, "helm", filepath.Join(root, "tools", "helm", "go.mod"), "helm.sh/helm/v3", "version", "--short"); err != nil {
		return "", "", err
	}
	registry, err = Tool(dir, "registry", filepath.Join(root, "tools", "registry", "go.mod"), "github.com/distribution/distribution/v3", "--version")
	return helm, registry, err
}

// PublishedChart is the chart a user installs from a registry: the chart under root packaged and
// signed with a fresh key, pushed to a registry started in work, and located and loaded back with the
// Helm SDK as `helm install oci://... --verify` does. It returns the oci:// reference it was loaded
// from; the registry is stopped before it returns.
func PublishedChart(root, chartDir, work string) (*chart.Chart, string, error) {
	helm, registryBin, err := HelmAndRegistry(root)
	if err != nil {
		return nil, "", err
	}
	signer, err := NewSigner(work)
	if err != nil {
		return nil, "", err
	}
	home := filepath.Join(work, "helm")
	packaged, err := PackageChart(helm, home, chartDir, filepath.Join(work, "dist"), signer)
	if err != nil {
		return nil, "", err
	}
	reg, err := StartRegistry(registryBin, work)
	if err != nil {
		return nil, "", err
	}
	defer reg.Stop()
	ref, err := packaged.Push(helm, home, reg, "charts")
	if err != nil {
		return nil, "", err
	}
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard),
		registry.ClientOptCredentialsFile(filepath.Join(home, "registry.json")))
	if err != nil {
		return nil, "", err
	}
	settings := cli.New()
	settings.RepositoryCache = filepath.Join(home, "cache")
	settings.RepositoryConfig = filepath.Join(home, "repositories.yaml")
	settings.RegistryConfig = filepath.Join(home, "registry.json")
	install := action.NewInstall(&action.Configuration{RegistryClient: client})
	install.SetRegistryClient(client)
	install.Version, install.Verify, install.Keyring = packaged.Version, true, signer.PublicKeyring
	path, err := install.LocateChart(ref, settings)
	if err != nil {
		return nil, "", fmt.Errorf("locate %s: %w", ref, err)
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, "", fmt.Errorf("load %s: %w", path, err)
	}
	return ch, ref, nil
}
