// Command imagebuild builds the node layer's container images offline, from static binaries built from
// pinned modules, with go-containerregistry: no registry is reachable from these machines, so nothing
// can be pulled. Each image is laid out as its official build lays it out (binary path, PATH, user,
// entrypoint; the source is named beside each image), on a minimal base layer standing in for the
// distroless/chainguard static base: /etc/passwd and /etc/group with root, nonroot (65532) and nobody,
// and a world-writable /tmp. Outputs: one docker-archive tarball per image (what
// `ctr images import --all-platforms` reads) and index.json, which names each image's reference and
// tarball for the tests.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"gopkg.in/yaml.v3"
)

// Image is one entry of index.json.
type Image struct {
	Name string `json:"name"`
	Ref  string `json:"ref"`
	Tar  string `json:"tar"`
}

// file is one regular file of a layer.
type file struct {
	path   string
	mode   int64
	data   []byte
	xattrs map[string]string
}

// spec is an image: its files (above the base layer, unless scratch) and its config.
type spec struct {
	name, ref string
	scratch   bool
	files     []file
	config    v1.Config
}

const debianPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is every file's modification time, so that the same binaries give the same image digests.
var epoch = time.Unix(0, 0)

func main() {
	bin := flag.String("bin", "", "directory of the built binaries ($(CACHE)/bin)")
	out := flag.String("out", "", "output directory for the image tarballs and index.json")
	values := flag.String("values", "charts/kubernaut-execution/values.yaml", "the chart's values.yaml: the kubectl and OPA references are its defaults")
	tekton := flag.String("tekton", "", "Tekton Pipelines version (tag of its images)")
	coredns := flag.String("coredns", "", "CoreDNS version (tag of its image)")
	schemas := flag.String("schemas", "", "directory of the JSON schemas, one subdirectory per Kubernetes version, for the kubernaut-execution image")
	only := flag.String("only", "", "build this image alone (make image: the kubernaut-execution command's and the controller's)")
	flag.Parse()
	if err := run(*bin, *out, *values, *tekton, *coredns, *schemas, *only); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

// refs are the image references the chart uses by default, so that the chart installs with its
// default images unchanged.
type refs struct{ kubectl, opa, command, controller string }

func chartRefs(path string) (refs, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return refs{}, err
	}
	type image struct{ Repository, Tag string }
	var v struct {
		Actions struct{ Image image }
		Tekton  struct {
			OpaImage image `yaml:"opaImage"`
		}
		Test       struct{ Image image }
		Controller struct{ Image image }
	}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return refs{}, fmt.Errorf("%s: %w", path, err)
	}
	ref := func(key string, i image) (string, error) {
		if i.Repository == "" || i.Tag == "" {
			return "", fmt.Errorf("%s: %s has no repository or tag", path, key)
		}
		return i.Repository + ":" + i.Tag, nil
	}
	var r refs
	if r.kubectl, err = ref("actions.image", v.Actions.Image); err != nil {
		return refs{}, err
	}
	if r.opa, err = ref("tekton.opaImage", v.Tekton.OpaImage); err != nil {
		return refs{}, err
	}
	if r.command, err = ref("test.image", v.Test.Image); err != nil {
		return refs{}, err
	}
	r.controller, err = ref("controller.image", v.Controller.Image)
	return r, err
}

// netBindService is a version-2 file capability (struct vfs_cap_data, linux/capability.h) granting
// CAP_NET_BIND_SERVICE (bit 10) permitted and effective: what `setcap cap_net_bind_service=+ep` writes.
func netBindService() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000000|0x1) // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	binary.LittleEndian.PutUint32(b[4:], 1<<10)          // permitted, low word
	return string(b)
}

func specs(bin string, r refs, tekton, coredns, schemas, only string) ([]spec, error) {
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(bin, p)) }
	var list []spec
	add := func(s spec, binPath, target string, xattrs map[string]string) error {
		if only != "" && s.name != only {
			return nil
		}
		data, err := read(binPath)
		if err != nil {
			return fmt.Errorf("image %s: %w (run make node-tools)", s.name, err)
		}
		s.files = append(s.files, file{path: target, mode: 0o755, data: data, xattrs: xattrs})
		list = append(list, s)
		return nil
	}
	// Pause: kubernetes build/pause/Dockerfile (FROM scratch, ADD pause /pause, USER 65535:65535,
	// ENTRYPOINT ["/pause"]). The tag is the one kubelet and containerd name by default.
	if err := add(spec{name: "pause", ref: "registry.k8s.io/pause:3.10", scratch: true,
		config: v1.Config{User: "65535:65535", Entrypoint: []string{"/pause"}}}, "pause", "pause", nil); err != nil {
		return nil, err
	}
	// Workloads the actions act on: the pause binary under two tags, so that a rollback shows in the
	// image of running pods. Laid out as pause.
	for _, tag := range []string{"v1", "v2"} {
		if err := add(spec{name: "app-" + tag, ref: "kubernaut.local/app:" + tag, scratch: true,
			config: v1.Config{User: "65535:65535", Entrypoint: []string{"/pause"}}}, "pause", "pause", nil); err != nil {
			return nil, err
		}
	}
	// The reachability probe (tools/node/probe), as a distroless-style static image.
	if err := add(spec{name: "probe", ref: "kubernaut.local/probe:v1",
		config: v1.Config{User: "65532:65532", Entrypoint: []string{"/probe"}}}, "probe", "probe", nil); err != nil {
		return nil, err
	}
	// kubectl: kubernetes build/server-image/kubectl/Dockerfile (registry.k8s.io/kubectl since 1.28):
	// COPY kubectl /bin/, ENTRYPOINT ["/bin/kubectl"], no USER (the base's root; the chart's pods set
	// runAsUser), Debian's PATH. The official image also carries bash, grep, sed, gawk, jq and diffutils
	// from Debian; the chart's steps run kubectl as command + args and need none of them.
	if err := add(spec{name: "kubectl", ref: r.kubectl,
		config: v1.Config{Entrypoint: []string{"/bin/kubectl"}, Env: []string{"PATH=" + debianPath}}}, "kubectl", "bin/kubectl", nil); err != nil {
		return nil, err
	}
	// OPA static: open-policy-agent/opa Dockerfile with BASE=chainguard/static (Makefile, the -static
	// tag): USER 1000:1000, COPY opa_linux_amd64_static /opa, ENV PATH=$PATH:/, ENTRYPOINT ["/opa"],
	// CMD ["run"].
	if err := add(spec{name: "opa", ref: r.opa,
		config: v1.Config{User: "1000:1000", Env: []string{"PATH=" + debianPath + ":/"}, Entrypoint: []string{"/opa"}, Cmd: []string{"run"}}}, "opa", "opa", nil); err != nil {
		return nil, err
	}
	// CoreDNS: coredns/coredns Dockerfile at the pinned version (in its module zip): distroless
	// static nonroot base, /coredns with cap_net_bind_service=+ep (setcap), USER 65532:65532, WORKDIR /,
	// EXPOSE 53 53/udp, ENTRYPOINT ["/coredns"]. Docker Hub tags drop the v.
	if err := add(spec{name: "coredns", ref: "docker.io/coredns/coredns:" + trimV(coredns),
		config: v1.Config{User: "65532:65532", WorkingDir: "/", Env: []string{"PATH=" + debianPath}, Entrypoint: []string{"/coredns"},
			ExposedPorts: map[string]struct{}{"53/tcp": {}, "53/udp": {}}}}, "coredns", "coredns",
		map[string]string{"security.capability": netBindService()}); err != nil {
		return nil, err
	}
	// Tekton's images are built by ko (.ko.yaml in the module: defaultBaseImage static-base, the
	// combined base for entrypoint, nop and workingdirinit): ko puts the binary at /ko-app/<name>, makes
	// it the entrypoint, appends /ko-app to PATH and sets KO_DATA_PATH=/var/run/ko; the static base runs
	// as nonroot 65532. The controller's pod builder runs /ko-app/entrypoint, /ko-app/workingdirinit and
	// /ko-app/sidecarlogresults by those paths (pkg/pod). Local tags: the controller is given them by flag.
	for _, cmd := range []string{"entrypoint", "nop", "workingdirinit", "sidecarlogresults"} {
		if err := add(spec{name: "tekton-" + cmd, ref: TektonRef(cmd, tekton),
			config: v1.Config{User: "65532", Env: []string{"PATH=" + debianPath + ":/ko-app", "KO_DATA_PATH=/var/run/ko"},
				Entrypoint: []string{"/ko-app/" + cmd}}}, "tekton/"+cmd, "ko-app/"+cmd, nil); err != nil {
			return nil, err
		}
	}
	// The kubernaut-execution command (cmd/kubernaut-execution), for CI pipelines without a Go toolchain
	// and for the chart's helm test: static, on the distroless-style base, as nonroot, with the JSON
	// schemas `check` validates against under /schemas (KUBERNAUT_EXECUTION_SCHEMAS, the command's
	// SchemaDirEnv), so that it runs offline.
	if only == "" || only == "kubernaut-execution" {
		files, err := tree(schemas, "schemas")
		if err != nil {
			return nil, fmt.Errorf("image kubernaut-execution: %w (run make schemas)", err)
		}
		if err := add(spec{name: "kubernaut-execution", ref: r.command, files: files,
			config: v1.Config{User: "65532:65532", Env: []string{"PATH=" + debianPath + ":/", "KUBERNAUT_EXECUTION_SCHEMAS=/schemas"},
				Entrypoint: []string{"/kubernaut-execution"}}}, "kubernaut-execution", "kubernaut-execution", nil); err != nil {
			return nil, err
		}
	}
	// The execution controller (cmd/kubernaut-execution-controller), the chart's controller Deployment:
	// static, on the distroless-style base, as nonroot, as kubebuilder's Dockerfile lays out a manager.
	if err := add(spec{name: "kubernaut-execution-controller", ref: r.controller,
		config: v1.Config{User: "65532:65532", Entrypoint: []string{"/kubernaut-execution-controller"}}},
		"kubernaut-execution-controller", "kubernaut-execution-controller", nil); err != nil {
		return nil, err
	}
	if only != "" && len(list) != 1 {
		return nil, fmt.Errorf("-only %q: no such image", only)
	}
	return list, nil
}

// tree reads every regular file under dir into files under prefix, sorted, so that images are
// reproducible.
func tree(dir, prefix string) ([]file, error) {
	if dir == "" {
		return nil, fmt.Errorf("no -schemas directory")
	}
	var files []file
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		files = append(files, file{path: filepath.ToSlash(filepath.Join(prefix, rel)), mode: 0o644, data: data})
		return err
	})
	return files, err
}

// TektonRef is the local reference of a Tekton helper image.
func TektonRef(cmd, version string) string {
	return "kubernaut.local/tektoncd/pipeline/" + cmd + ":" + version
}

func trimV(v string) string {
	if len(v) > 0 && v[0] == 'v' {
		return v[1:]
	}
	return v
}

func run(bin, out, values, tekton, coredns, schemas, only string) error {
	if bin == "" || out == "" || (only == "" && (tekton == "" || coredns == "")) {
		return fmt.Errorf("-bin and -out are required, and -tekton and -coredns unless -only")
	}
	r, err := chartRefs(values)
	if err != nil {
		return err
	}
	list, err := specs(bin, r, tekton, coredns, schemas, only)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	base, err := layer(baseFiles())
	if err != nil {
		return fmt.Errorf("base layer: %w", err)
	}
	var index []Image
	for _, s := range list {
		img, err := build(s, base)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.name, err)
		}
		ref, err := name.NewTag(s.ref)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.name, err)
		}
		tarPath := filepath.Join(out, s.name+".tar")
		if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
			return fmt.Errorf("image %s: write %s: %w", s.name, tarPath, err)
		}
		index = append(index, Image{Name: s.name, Ref: s.ref, Tar: s.name + ".tar"})
		fmt.Printf("imagebuild: %s -> %s\n", s.ref, tarPath)
	}
	if only != "" {
		return nil // one image for its user, not the node layer's set
	}
	data, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "index.json"), append(data, '\n'), 0o644)
}

func baseFiles() []file {
	return []file{
		{path: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
	}
}

func build(s spec, base v1.Layer) (v1.Image, error) {
	l, err := layer(s.files)
	if err != nil {
		return nil, err
	}
	layers := []v1.Layer{l}
	if !s.scratch {
		layers = []v1.Layer{base, l}
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	// Without a platform, containerd's import filters the image out and kubelet cannot use it.
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config = s.config
	return mutate.ConfigFile(img, cfg)
}

// layer writes files (and their parent directories, and /tmp) into an uncompressed tar layer.
func layer(files []file) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	var mkdir func(p string, mode int64) error
	mkdir = func(p string, mode int64) error {
		if dirs[p] || p == "." {
			return nil
		}
		if err := mkdir(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		dirs[p] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
	}
	if err := mkdir("tmp", 0o1777); err != nil {
		return nil, err
	}
	for _, f := range files {
		if d := filepath.Dir(f.path); d != "." {
			if err := mkdir(d, 0o755); err != nil {
				return nil, err
			}
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}
		if len(f.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range f.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}
