package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"

	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// The chart is published as users get it: packaged and signed by helm (what `make package` does with a
// key), pushed to a real OCI registry on loopback, pulled back with verification. An archive changed
// after signing is refused by `helm verify` and by a verified pull.
func TestChartPublishedSignedAndVerified(t *testing.T) {
	helm, registryBin, err := testenv.HelmAndRegistry(root)
	require.NoError(t, err)
	home, work := t.TempDir(), t.TempDir()
	signer, err := testenv.NewSigner(work)
	require.NoError(t, err)

	packaged, err := testenv.PackageChart(helm, home, chartDir, filepath.Join(work, "dist"), signer)
	require.NoError(t, err)
	require.FileExists(t, packaged.Provenance)
	out, err := testenv.Helm(helm, home, "verify", packaged.Archive, "--keyring", signer.PublicKeyring)
	require.NoError(t, err)
	require.Contains(t, out, "Signed by: "+signer.Name)

	// One byte of one template changed after signing: the digest in the provenance no longer matches.
	tamperedDir := filepath.Join(work, "tampered")
	require.NoError(t, os.MkdirAll(tamperedDir, 0o755))
	tampered := *packaged
	tampered.Archive = filepath.Join(tamperedDir, filepath.Base(packaged.Archive))
	tampered.Provenance = tampered.Archive + ".prov"
	rewriteArchive(t, packaged.Archive, tampered.Archive, "templates/networkpolicies.yaml", func(s string) string {
		return strings.Replace(s, "policyTypes", "policyTypes ", 1)
	})
	prov, err := os.ReadFile(packaged.Provenance)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tampered.Provenance, prov, 0o644))
	_, err = testenv.Helm(helm, home, "verify", tampered.Archive, "--keyring", signer.PublicKeyring)
	require.ErrorContains(t, err, "sha256 sum does not match")

	registry, err := testenv.StartRegistry(registryBin, t.TempDir())
	require.NoError(t, err)
	t.Cleanup(registry.Stop)
	ref, err := packaged.Push(helm, home, registry, "charts")
	require.NoError(t, err)
	pulled := t.TempDir()
	out, err = testenv.Helm(helm, home, "pull", ref, "--version", packaged.Version, "--plain-http", "--verify", "--keyring", signer.PublicKeyring, "--destination", pulled)
	require.NoError(t, err)
	require.Contains(t, out, "Signed by: "+signer.Name)
	require.FileExists(t, filepath.Join(pulled, filepath.Base(packaged.Archive)))

	tamperedRef, err := tampered.Push(helm, home, registry, "tampered")
	require.NoError(t, err)
	_, err = testenv.Helm(helm, home, "pull", tamperedRef, "--version", packaged.Version, "--plain-http", "--verify", "--keyring", signer.PublicKeyring, "--destination", t.TempDir())
	require.ErrorContains(t, err, "sha256 sum does not match")
}

// rewriteArchive copies a chart archive, changing the one file whose path ends with name.
func rewriteArchive(t *testing.T, from, to, name string, change func(string) string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	gz, err := gzip.NewReader(in)
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(gz)
	changed := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		if strings.HasSuffix(h.Name, "/"+name) {
			data, changed = []byte(change(string(data))), true
			h.Size = int64(len(data))
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err = tw.Write(data)
		require.NoError(t, err)
	}
	require.True(t, changed, "no %s in %s", name, from)
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(to, buf.Bytes(), 0o644))
}

// chartMetadata is the chart's Chart.yaml, read as Helm reads it.
func chartMetadata(t testing.TB) *chart.Metadata {
	t.Helper()
	meta, err := chartutil.LoadChartfile(filepath.Join(chartDir, chartutil.ChartfileName))
	require.NoError(t, err)
	return meta
}

// Artifact Hub's image list is what the chart installs by default: each image the values name; its
// licence is the repository's LICENSE.
func TestArtifactHubImagesAreTheDefaults(t *testing.T) {
	meta := chartMetadata(t)
	var listed []struct{ Name, Image string }
	require.NoError(t, yaml.Unmarshal([]byte(meta.Annotations["artifacthub.io/images"]), &listed))
	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	var want, got []string
	for _, path := range [][]any{{"controller", "image"}, {"actions", "image"}, {"tekton", "opaImage"}} {
		image := get(values, path...)
		want = append(want, get(image, "repository").(string)+":"+get(image, "tag").(string))
	}
	for _, image := range listed {
		got = append(got, image.Image)
	}
	require.ElementsMatch(t, want, got, "artifacthub.io/images in Chart.yaml and the images values.yaml installs")
	// The licence Artifact Hub shows is the repository's.
	require.Equal(t, "Apache-2.0", meta.Annotations["artifacthub.io/license"])
	require.Contains(t, readFile(t, filepath.Join(root, "LICENSE")), "Apache License\n                           Version 2.0, January 2004")
	for _, key := range []string{"artifacthub.io/links", "artifacthub.io/changes"} {
		var entries []map[string]string
		require.NoError(t, yaml.Unmarshal([]byte(meta.Annotations[key]), &entries), key)
		require.NotEmpty(t, entries, key)
	}
}
