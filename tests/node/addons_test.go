//go:build node

package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/jordigilh/kubernaut-execution/internal/manifest"
	"github.com/jordigilh/kubernaut-execution/tests/testenv"
)

// coreDNS is CoreDNS as clusters run it: a Deployment behind the kube-dns Service in kube-system,
// labelled k8s-app: kube-dns, which is what the chart's DNS egress rule selects by default
// (networkPolicy.dns.podSelector empty) in the namespace kubernetes.io/metadata.name: kube-system.
// RBAC and probes follow coredns/deployment's kubernetes/coredns.yaml.sed. The image runs as 65532
// with cap_net_bind_service on the binary; the safe sysctl ip_unprivileged_port_start=0 lets it bind
// :53 even where a runtime does not honour file capabilities.
const coreDNS = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
- kind: ServiceAccount
  name: coredns
  namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  Corefile: |
    .:53 {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
    }
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  replicas: 1
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      serviceAccountName: coredns
      securityContext:
        sysctls:
        - name: net.ipv4.ip_unprivileged_port_start
          value: "0"
        seccompProfile:
          type: RuntimeDefault
      containers:
      - name: coredns
        image: %s
        imagePullPolicy: Never
        args: ["-conf", "/etc/coredns/Corefile"]
        ports:
        - {name: dns, containerPort: 53, protocol: UDP}
        - {name: dns-tcp, containerPort: 53, protocol: TCP}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            add: [NET_BIND_SERVICE]
            drop: [ALL]
        readinessProbe:
          httpGet: {path: /ready, port: 8181}
          periodSeconds: 1
        livenessProbe:
          httpGet: {path: /health, port: 8080}
        volumeMounts:
        - {name: config, mountPath: /etc/coredns, readOnly: true}
      volumes:
      - name: config
        configMap:
          name: coredns
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  clusterIP: %s
  selector:
    k8s-app: kube-dns
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
`

func (c *Cluster) startDNS(ctx context.Context) error {
	if err := c.applyYAML(ctx, "coredns", fmt.Sprintf(coreDNS, c.Images["coredns"], dnsServiceIP)); err != nil {
		return err
	}
	// Ready when CoreDNS, asked through the Service IP, answers with the kubernetes Service's IP.
	return waitFor(ctx, 120*time.Second, func() error {
		addrs, err := lookupDNS(ctx, "kubernetes.default.svc.cluster.local")
		if err != nil {
			return fmt.Errorf("%w (%s)", err, c.podsSummary(ctx, "kube-system"))
		}
		if !slices.Equal(addrs, []string{apiServiceIP}) {
			return fmt.Errorf("kubernetes.default resolves to %v, want %s", addrs, apiServiceIP)
		}
		return nil
	})
}

// podsSummary is a line per pod of a namespace with its phase and waiting reasons, for errors.
func (c *Cluster) podsSummary(ctx context.Context, ns string) string {
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, p := range pods.Items {
		line := p.Name + " " + string(p.Status.Phase)
		for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if s.State.Waiting != nil {
				line += fmt.Sprintf(" %s:%s(%s)", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
			}
			if s.State.Terminated != nil {
				line += fmt.Sprintf(" %s:exit %d %s", s.Name, s.State.Terminated.ExitCode, s.State.Terminated.Message)
			}
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "; ")
}

const tektonNS = "tekton-pipelines"

var tektonGVR = func(r string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "tekton.dev", Version: "v1", Resource: r}
}

// tektonConfig are the files of Tekton's release config (config/ in the pinned module) that the node
// applies. Left out: the webhook (Deployment, Service, HPA and its webhook configurations; see
// startTekton), the controller Deployment (the controller runs as a process, below), the events
// controller and the remote resolvers (nothing here resolves remote Tasks).
var tektonConfig = []string{"100-namespace/100-namespace.yaml", "200-clusterrole.yaml", "200-role.yaml", "200-serviceaccount.yaml",
	"201-clusterrolebinding.yaml", "201-rolebinding.yaml", "clusterrole-aggregate-edit.yaml", "clusterrole-aggregate-view.yaml",
	"config-defaults.yaml", "config-events.yaml", "config-feature-flags.yaml", "config-info.yaml", "config-leader-election-controller.yaml",
	"config-logging.yaml", "config-observability.yaml", "config-registry-cert.yaml", "config-spire.yaml", "config-tracing.yaml",
	"config-wait-exponential-backoff.yaml"}

// tektonModule is the pinned Tekton Pipelines module's directory in the module cache (make node-tools
// put it there by building Tekton from tools/node; the namespace has no route to the proxy).
func tektonModule() (string, string, error) {
	version, err := testenv.RequiredVersion(filepath.Join(root, "tools", "node", "go.mod"), "github.com/tektoncd/pipeline")
	if err != nil {
		return "", "", err
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMODCACHE: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "github.com", "tektoncd", "pipeline@"+version)
	if _, err := os.Stat(filepath.Join(dir, "config", "300-crds")); err != nil {
		return "", "", fmt.Errorf("tektoncd/pipeline@%s is not in the module cache (run `make node-tools`): %w", version, err)
	}
	return dir, version, nil
}

// startTekton installs Tekton Pipelines from the pinned module's config/ and runs its controller as
// a process of the node, with its own ServiceAccount's token and the flags of config/controller.yaml,
// the helper images named by their local tags.
//
// No webhook: Tekton's webhook defaults, validates and converts (v1beta1 <-> v1) resources. Defaults
// are applied by the reconciler too (TaskRun reconciler: tr.SetDefaults(ctx) before anything else),
// the chart's Tasks are validated with Tekton's Go types in the render layer, and everything here is
// v1, which is the storage version, so no conversion is ever asked for. Its webhook configurations
// (500-webhooks.yaml) are left out with it, since an API server calling a missing webhook fails
// every write of those kinds.
func (c *Cluster) startTekton(ctx context.Context) error {
	dir, version, err := tektonModule()
	if err != nil {
		return err
	}
	crds, err := filepath.Glob(filepath.Join(dir, "config", "300-crds", "*.yaml"))
	if err != nil {
		return err
	}
	var docs []manifest.Document
	for _, f := range append(prefixAll(filepath.Join(dir, "config"), tektonConfig), crds...) {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		d, err := manifest.Read(f, strings.NewReader(string(data)))
		if err != nil {
			return err
		}
		docs = append(docs, d...)
	}
	for i, d := range docs {
		if d.Kind() == "ConfigMap" && d.Name() == "feature-flags" {
			// As the chart's README tells users: Tekton's injected containers meet restricted too.
			docs[i], err = withData(d, map[string]string{"set-security-context": "true"})
			if err != nil {
				return err
			}
		}
	}
	var crdDocs, rest []manifest.Document
	for _, d := range docs {
		if d.Kind() == "CustomResourceDefinition" {
			crdDocs = append(crdDocs, d)
		} else {
			rest = append(rest, d)
		}
	}
	if err := c.apply(ctx, crdDocs); err != nil {
		return err
	}
	for _, d := range crdDocs {
		if err := c.established(ctx, d.Name()); err != nil {
			return err
		}
	}
	c.ResetMapper()
	if err := c.apply(ctx, rest); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, func() error {
		_, err := c.Client.CoreV1().ServiceAccounts(tektonNS).Get(ctx, "tekton-pipelines-controller", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	token, err := c.Token(ctx, tektonNS, "tekton-pipelines-controller")
	if err != nil {
		return err
	}
	kc := filepath.Join(c.Dir, "tekton-controller.kubeconfig")
	if err := testenv.WriteKubeconfig(kc, "node", c.Server, token); err != nil {
		return err
	}
	img := func(name string) string { return c.Images["tekton-"+name] }
	// The shell images only serve `script:` steps and PVC workspaces, which the chart's Tasks do not
	// use; they name references that are not on the node, so a step that needed one would fail.
	if err := c.Run("tekton-controller", c.bin("tekton/controller"), []string{
		"SYSTEM_NAMESPACE=" + tektonNS, "KUBERNETES_MIN_VERSION=v1.28.0", "CONFIG_DEFAULTS_NAME=config-defaults",
		"CONFIG_LOGGING_NAME=config-logging", "CONFIG_OBSERVABILITY_NAME=config-observability", "CONFIG_FEATURE_FLAGS_NAME=feature-flags",
		"CONFIG_LEADERELECTION_NAME=config-leader-election-controller", "CONFIG_SPIRE=config-spire", "METRICS_DOMAIN=tekton.dev/pipeline",
		"PROBES_PORT=9098",
	}, "-kubeconfig", kc, "-entrypoint-image", img("entrypoint"), "-nop-image", img("nop"), "-sidecarlogresults-image", img("sidecarlogresults"),
		"-workingdirinit-image", img("workingdirinit"), "-shell-image", "kubernaut.local/absent/shell:"+version,
		"-shell-image-win", "kubernaut.local/absent/shell-win:"+version); err != nil {
		return err
	}
	// Up when a TaskRun has run to success: a step running Tekton's own nop image, through the
	// entrypoint init container, on this node.
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, namespaceObject("tekton-probe", nil), metav1.CreateOptions{}); err != nil {
		return err
	}
	tr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tekton.dev/v1", "kind": "TaskRun",
		"metadata": map[string]any{"name": "probe", "namespace": "tekton-probe"},
		"spec": map[string]any{"taskSpec": map[string]any{"steps": []any{map[string]any{
			"name": "nop", "image": img("nop"), "command": []any{"/ko-app/nop"}}}}},
	}}
	if err := waitFor(ctx, 60*time.Second, func() error {
		_, err := c.Client.CoreV1().ServiceAccounts("tekton-probe").Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil {
		return err
	}
	if _, err := c.Dynamic.Resource(tektonGVR("taskruns")).Namespace("tekton-probe").Create(ctx, tr, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create probe TaskRun: %w", err)
	}
	return waitFor(ctx, 180*time.Second, func() error {
		got, err := c.Dynamic.Resource(tektonGVR("taskruns")).Namespace("tekton-probe").Get(ctx, "probe", metav1.GetOptions{})
		if err != nil {
			return err
		}
		status, reason, message := succeeded(got)
		switch status {
		case "True":
			return nil
		case "False":
			return fmt.Errorf("probe TaskRun failed: %s: %s", reason, message)
		}
		return fmt.Errorf("probe TaskRun %s %s: %s (%s)\n%s", status, reason, message, c.podsSummary(ctx, "tekton-probe"), c.Log("tekton-controller"))
	})
}

// succeeded is a Tekton run's Succeeded condition.
func succeeded(o *unstructured.Unstructured) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, cond := range conds {
		if m, ok := cond.(map[string]any); ok && m["type"] == "Succeeded" {
			s, _ := m["status"].(string)
			r, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			return s, r, msg
		}
	}
	return "Unknown", "", ""
}

func prefixAll(dir string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(dir, n)
	}
	return out
}

// withData returns a ConfigMap document with keys of its data set.
func withData(d manifest.Document, data map[string]string) (manifest.Document, error) {
	obj := d.Object
	m, _ := obj["data"].(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	for k, v := range data {
		m[k] = v
	}
	obj["data"] = m
	y, err := yamlMarshal(obj)
	if err != nil {
		return d, err
	}
	d.YAML = y
	return d, nil
}
