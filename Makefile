# kubernaut-execution: one catalogue, one generator, every manifest.
SHELL := /usr/bin/env bash -o pipefail
export GOTOOLCHAIN := local
# One build configuration for every binary, image and test: static, as Kubernetes builds its control
# plane and kubectl (hack/lib/golang.sh, KUBE_STATIC_BINARIES), etcd, OPA's -static image, CoreDNS and
# Tekton's ko images. The binaries then go into images as they are, and every build shares one
# compile cache instead of compiling the cgo-dependent half of each dependency graph twice.
export CGO_ENABLED := 0

GO ?= go
# Generated JSON schemas and built tools live here; never committed.
CACHE ?= $(CURDIR)/.cache
export KUBERNAUT_CACHE := $(CACHE)
OPA := $(CACHE)/bin/opa
STATICCHECK := $(CACHE)/bin/staticcheck
KUBE_SCORE := $(CACHE)/bin/kube-score
HELM := $(CACHE)/bin/helm
CONTROLLER_GEN := $(CACHE)/bin/controller-gen
# Written by controller-gen from api/v1alpha1's types; committed, checked by make verify.
DEEPCOPY := api/v1alpha1/zz_generated.deepcopy.go
# Written by tools/gitleaks from the default config of the gitleaks module it pins: the redaction
# patterns taken from gitleaks (the end of patterns.yaml) and gitleaks' licence notice; committed,
# checked by make verify.
GITLEAKS_PATTERNS := redact/patterns.yaml redact/LICENSE.gitleaks
REGISTRY := $(CACHE)/bin/registry
# apt-install installs the Debian packages $(2) that are missing, as root; target $(1) names itself in
# what it prints. Without root or apt it only says so: the tests that need a package then fail naming
# it and the target, never skip.
apt-install = missing=$$(for p in $(2); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "$(1): all present ($(2))"; exit 0; fi; \
	echo "$(1): installing $$missing"; \
	if [ "$$(id -u)" != 0 ]; then echo "$(1): not root; the tests that need them will fail until installed: $$missing"; exit 0; fi; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing || \
	{ apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; } || \
	echo "$(1): apt failed; the tests that need them will fail naming what is missing"

# gomod-version is the version go.mod file $(1) requires of module $(2), in a require block or not.
gomod-version = $(shell awk -v m=$(2) '{ for (i = 1; i < NF; i++) if ($$i == m) { print $$(i+1); exit } }' $(1))
# The control plane the real-cluster tests start, built from tools/kube (about 10 minutes cold).
KUBE_BINS := $(addprefix $(CACHE)/bin/,etcd kube-apiserver kube-controller-manager kubectl)
# Stamped into the binaries as the release build does; Helm checks the API server's version.
KUBE_VERSION := $(call gomod-version,tools/kube/go.mod,k8s.io/kubernetes)
KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) -X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(KUBE_VERSION)))) -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) -X k8s.io/component-base/version.gitTreeState=clean

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate every generated file from catalogue/actions.yaml (and the API's DeepCopy methods, the redaction patterns taken from gitleaks) and print what was written.
	$(CONTROLLER_GEN) object paths=./api/...
	cd tools/gitleaks && $(GO) run . -redact $(CURDIR)/redact
	$(GO) run ./cmd/kubernaut-execution generate
	@if sha256sum --status -c $(FLOW_SUMS) 2> /dev/null; then echo "generate: $(FLOW_SUMS): docs/flow.png is drawn from docs/flow.dot"; else $(MAKE) --no-print-directory docs; fi

.PHONY: build
build: $(CACHE)/bin/kubernaut-execution ## Build the kubernaut-execution command (generate, check, test-release) into bin/, stamped with git describe.
	@mkdir -p bin && cp $< bin/kubernaut-execution

CHART_VERSION := $(shell awk '/^version:/ { print $$2 }' charts/kubernaut-execution/Chart.yaml)

.PHONY: package
package: $(HELM) ## Package the chart into dist/ with helm package (version from Chart.yaml); SIGN_KEY and KEYRING sign it (.prov).
	$(HELM) package charts/kubernaut-execution --destination dist $(if $(SIGN_KEY),--sign --key "$(SIGN_KEY)" --keyring "$(KEYRING)")
	@echo "package: dist/kubernaut-execution-$(CHART_VERSION).tgz; publish with: $(HELM) push dist/kubernaut-execution-$(CHART_VERSION).tgz oci://REGISTRY/charts"

# What make docs drew from: docs/flow.dot's and docs/flow.png's SHA-256, as sha256sum prints them. make
# generate redraws only when it no longer matches, so a clone whose source is unchanged needs no
# Graphviz (the PNG's bytes differ between Graphviz versions); a test checks it.
FLOW_SUMS := docs/flow.sha256

.PHONY: docs
docs: ## Draw docs/flow.png from the generated docs/flow.dot with Graphviz (make doc-deps installs it) and record both in docs/flow.sha256.
	@command -v dot > /dev/null || { echo "docs: Graphviz's dot is missing, docs/flow.png cannot be redrawn from docs/flow.dot: run make doc-deps (Debian package graphviz)"; exit 1; }
	dot -Tpng docs/flow.dot -o docs/flow.png
	sha256sum docs/flow.dot docs/flow.png > $(FLOW_SUMS)

# Debian packages the docs need: Graphviz draws the flow picture.
DOC_DEBS := graphviz

.PHONY: doc-deps
doc-deps: ## Install Graphviz (as root, with apt) when missing.
	@$(call apt-install,doc-deps,$(DOC_DEBS))

.PHONY: verify
verify: generate ## Regenerate and fail on any difference from the committed files, printing the fix.
	@owned="$$($(GO) run ./cmd/kubernaut-execution generate --owned) $(DEEPCOPY) $(GITLEAKS_PATTERNS)"; if [ -n "$$(git status --porcelain -- $$owned)" ]; then \
		git status --short -- $$owned; \
		echo "Generated files were stale and are now regenerated (the same as make generate): review and commit them."; exit 1; \
	fi

.PHONY: fmt
fmt: ## Format Go code.
	$(GO) fmt ./...

# Build tags of the real-cluster layers: without them `go test ./...` runs the fast layers, and those two
# packages only print how to run them.
CLUSTER_TAGS := e2e,node

.PHONY: vet
vet: ## Run go vet (the real-cluster layers' files too).
	$(GO) vet -tags $(CLUSTER_TAGS) ./...

.PHONY: lint
lint: vet $(STATICCHECK) $(OPA) ## gofmt, go vet, staticcheck, opa fmt and opa check --strict on every policy and rule.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt: not formatted (run make fmt): $$unformatted"; exit 1; fi
	$(STATICCHECK) -tags $(CLUSTER_TAGS) ./...
	$(OPA) fmt --fail -l policies internal/check/rules
	$(OPA) check --strict policies
	$(OPA) check --strict internal/check/rules

##@ Demo

.PHONY: demo
demo: node-deps node-tools ## Bring up the real-node cluster, install the chart, and run three ActionRuns (one succeeds, one is refused, one waits for approval); the cluster stays up.
	KUBERNAUT_NODE_KEEP=1 $(GO) test -tags node ./tests/node -run '^TestDemo$$' -count=1 -v -timeout 20m

.PHONY: demo-down
demo-down: ## Remove the cluster make demo left running (processes, mounts, network namespace).
	KUBERNAUT_NODE_CLEAN_ONLY=1 $(GO) test -tags node ./tests/node -count=1 -v

##@ Testing

.PHONY: test
test: lint tools node-deps node-tools ## Run every test layer: unit, golden, render, kustomize, schema, policies, Tekton, gate, conformance, real cluster, real node.
	$(GO) test -tags $(CLUSTER_TAGS) ./... -count=1 -timeout 40m
	cd tools/gitleaks && $(GO) test . -count=1

.PHONY: test-fast
test-fast: vet $(OPA) $(KUBE_SCORE) $(HELM) $(REGISTRY) ## Every layer but the real-cluster ones, for the edit-test loop.
	$(GO) test ./... -count=1 -timeout 20m
	cd tools/gitleaks && $(GO) test . -count=1

.PHONY: policy-test
policy-test: $(OPA) ## Run the policy tests only: opa test with 100% coverage, schema type-check, the gate steps.
	$(GO) test ./internal/policy ./tests -count=1 -run 'Polic|TypeCheck|Gate'

.PHONY: e2e
e2e: tools ## Run the real-cluster layer alone (etcd + kube-apiserver + kube-controller-manager on loopback).
	$(GO) test -tags e2e ./tests/e2e -count=1 -v -timeout 30m

.PHONY: tools
tools: $(OPA) $(KUBE_BINS) $(KUBE_SCORE) $(HELM) $(REGISTRY) ## Build the pinned tools the tests run (opa, etcd, kube-apiserver, kube-controller-manager, kubectl, kube-score, helm, registry).

$(CONTROLLER_GEN): tools/controllergen/go.mod tools/controllergen/go.sum
	cd tools/controllergen && $(GO) build -o $@ sigs.k8s.io/controller-tools/cmd/controller-gen

$(OPA): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(OPA) github.com/open-policy-agent/opa

# kube-score stamps its version as its release build does (goreleaser), so the tests can check the pin.
$(KUBE_SCORE): tools/kubescore/go.mod tools/kubescore/go.sum
	cd tools/kubescore && $(GO) build -ldflags "-X main.version=$(call gomod-version,tools/kubescore/go.mod,github.com/zegl/kube-score)" -o $@ github.com/zegl/kube-score/cmd/kube-score

# helm stamps its version as its release build does (Makefile LDFLAGS), so the tests can check the pin.
$(HELM): tools/helm/go.mod tools/helm/go.sum
	cd tools/helm && $(GO) build -ldflags "-X helm.sh/helm/v3/internal/version.version=$(call gomod-version,tools/helm/go.mod,helm.sh/helm/v3)" -o $@ helm.sh/helm/v3/cmd/helm

# kubeconform's command, at the library version go.mod pins: the yardstick of BenchmarkCheckPipeline.
$(CACHE)/bin/kubeconform: go.mod go.sum
	$(GO) build -o $@ github.com/yannh/kubeconform/cmd/kubeconform

$(REGISTRY): tools/registry/go.mod tools/registry/go.sum
	cd tools/registry && $(GO) build -o $@ github.com/distribution/distribution/v3/cmd/registry

$(STATICCHECK): tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && $(GO) build -o $@ honnef.co/go/tools/cmd/staticcheck

$(CACHE)/bin/etcd: tools/kube/go.mod tools/kube/go.sum
	cd tools/kube && $(GO) build -o $@ go.etcd.io/etcd/server/v3

$(CACHE)/bin/kube-%: tools/kube/go.mod tools/kube/go.sum
	cd tools/kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-$*

$(CACHE)/bin/kubectl: tools/kube/go.mod tools/kube/go.sum
	cd tools/kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kubectl

.PHONY: schemas
schemas: ## Generate the offline Kubernetes JSON schemas into $(CACHE)/schemas (tests do this on demand; present ones are kept).
	$(GO) run ./internal/schemas/cmd -cache $(CACHE)

.PHONY: bench
bench: tools build $(CACHE)/bin/kubeconform node-deps node-tools ## Benchmarks: generate + render, gate decisions (in process, rule by rule, and CLI step), kubernaut-execution check (in process, and helm template | check against helm template | kubeconform), per-run RBAC (300 runs, 50 concurrent, sweep of 1,000), redaction, the run contract's admission latency, ActionRuns through the controller on the real node (per action, and 50 at once).
	$(GO) test ./internal/generate -run '^$$' -bench . -benchmem -count 5
	$(GO) test ./tests -run '^$$' -bench 'Gate|Check' -benchmem -count 5
	$(GO) test ./execution/gate -run '^$$' -bench Decide -benchtime 5000x -count 3
	$(GO) test ./redact -run '^$$' -bench Redact10MiB -benchtime 3x -count 3
	$(GO) test -tags e2e ./tests/e2e -run '^$$' -bench 'RunRBAC$$' -benchtime 300x -count 3
	$(GO) test -tags e2e ./tests/e2e -run '^$$' -bench 'RunRBACConcurrent|Sweep1000' -benchtime 3x -count 1
	$(GO) test -tags e2e ./tests/e2e -run '^$$' -bench RunContractAdmission -benchtime 300x -count 3
	$(GO) test -tags node ./tests/node -run '^$$' -bench 'ActionRun$$' -benchtime 5x -count 1 -timeout 60m
	$(GO) test -tags node ./tests/node -run '^$$' -bench FiftyActionRunsAtOnce -benchtime 1x -count 1 -timeout 30m

##@ Real node (layer 6)

# Versions of the node layer's parts that come from the Go module proxy. Tekton's is pinned in
# tools/node/go.mod (the same version the product's go.mod pins), CoreDNS's in tools/coredns/go.mod;
# kube-router's is the version checked on these machines (../shared/TOOLCHAIN.md). `go install
# pkg@version` builds it with its own go.mod and go.sum, verified against the checksum database. Each
# tool module keeps its own dependency graph (kube-router's is Kubernetes 1.29), so they never meet the
# product's or each other's.
TEKTON_VERSION := $(call gomod-version,tools/node/go.mod,github.com/tektoncd/pipeline)
KUBE_ROUTER_VERSION := v2.1.0
COREDNS_VERSION := $(call gomod-version,tools/coredns/go.mod,github.com/coredns/coredns)
# Host processes inside the node's network namespace.
NODE_HOST_BINS := $(addprefix $(CACHE)/bin/,kube-scheduler kubelet kube-proxy kube-router) $(CACHE)/bin/tekton/controller
# Binaries that go into images (static: nothing else is in an image to link against).
NODE_IMAGE_BINS := $(addprefix $(CACHE)/bin/,kubectl opa coredns pause probe kubernaut-execution kubernaut-execution-controller) \
	$(addprefix $(CACHE)/bin/tekton/,entrypoint nop workingdirinit sidecarlogresults)
NODE_IMAGES := $(CACHE)/images/index.json
# Debian packages the node layer runs: containerd and runc for pods, the CNI plugins, netfilter tools
# for kube-proxy and kube-router, iproute2 for the namespace, util-linux for nsenter.
NODE_DEBS := containerd runc containernetworking-plugins iptables ipset conntrack iproute2 util-linux

.PHONY: node-deps
node-deps: ## Install the Debian packages the real-node layer needs (as root, with apt), when missing.
	@$(call apt-install,node-deps,$(NODE_DEBS))

.PHONY: node-tools
node-tools: tools $(NODE_HOST_BINS) $(NODE_IMAGE_BINS) $(NODE_IMAGES) ## Build the node layer's binaries and offline images.

.PHONY: e2e-node
e2e-node: node-deps node-tools ## Run the real-node layer alone (kubelet, containerd, Tekton, NetworkPolicies in a network namespace).
	$(GO) test -tags node ./tests/node -count=1 -v -timeout 40m

.PHONY: node-clean
node-clean: ## Remove what killed node-layer runs left behind (processes, mounts, namespaces); live runs are kept.
	KUBERNAUT_NODE_CLEAN_ONLY=1 $(GO) test -tags node ./tests/node -count=1 -v

$(CACHE)/bin/kubelet: tools/kube/go.mod tools/kube/go.sum
	cd tools/kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kubelet

$(CACHE)/bin/pause $(CACHE)/bin/probe: $(CACHE)/bin/%: tools/node/go.mod $(wildcard tools/node/pause/*.go tools/node/probe/*.go)
	cd tools/node && $(GO) build -o $@ ./$*

# CoreDNS with the plugins the node layer uses (tools/coredns/main.go says why not all of them).
$(CACHE)/bin/coredns: tools/coredns/go.mod tools/coredns/go.sum tools/coredns/main.go
	cd tools/coredns && $(GO) build -ldflags "-X github.com/coredns/coredns/coremain.GitCommit=$(COREDNS_VERSION)" -o $@ .

# kube-router is built by version with go install. Its version is in this Makefile only, so a stamp
# named with it is the prerequisite: changing KUBE_ROUTER_VERSION makes a new stamp, which rebuilds it.
KUBE_ROUTER_STAMP := $(CACHE)/bin/.kube-router-$(KUBE_ROUTER_VERSION)

$(KUBE_ROUTER_STAMP):
	@mkdir -p $(@D) && rm -f $(CACHE)/bin/.kube-router-* && touch $@

$(CACHE)/bin/kube-router: $(KUBE_ROUTER_STAMP)
	GOBIN=$(CACHE)/bin $(GO) install -ldflags "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$(KUBE_ROUTER_VERSION)" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$(KUBE_ROUTER_VERSION)

# Tekton's commands come from tools/node (tool directives there; its go.mod says why not go install).
$(CACHE)/bin/tekton/%: tools/node/go.mod tools/node/go.sum
	cd tools/node && $(GO) build -o $@ github.com/tektoncd/pipeline/cmd/$*

$(CACHE)/bin/imagebuild: tools/node/go.mod tools/node/go.sum $(wildcard tools/node/imagebuild/*.go)
	cd tools/node && $(GO) build -o $@ ./imagebuild

# The command's image carries the schemas. They are keyed by Kubernetes version and kept once present,
# so making them (order-only) never by itself rebuilds the images.
$(NODE_IMAGES): $(CACHE)/bin/imagebuild $(NODE_IMAGE_BINS) charts/kubernaut-execution/values.yaml | schemas
	$(CACHE)/bin/imagebuild -bin $(CACHE)/bin -out $(CACHE)/images -tekton $(TEKTON_VERSION) -coredns $(COREDNS_VERSION) -schemas $(CACHE)/schemas

# The command, static like every image's binary, rebuilt when the product's sources change.
COMMAND_SOURCES := go.mod go.sum $(shell find api cmd controller internal catalogue execution redact -type f -not -name '*_test.go' -not -path '*/testdata/*' 2>/dev/null)
$(CACHE)/bin/kubernaut-execution: $(COMMAND_SOURCES)
	$(GO) build -ldflags "-X main.buildVersion=$$(git describe --tags --always --dirty 2>/dev/null || echo devel)" -o $@ ./cmd/kubernaut-execution

$(CACHE)/bin/kubernaut-execution-controller: $(COMMAND_SOURCES)
	$(GO) build -o $@ ./cmd/kubernaut-execution-controller

.PHONY: image
image: schemas $(CACHE)/bin/imagebuild $(CACHE)/bin/kubernaut-execution $(CACHE)/bin/kubernaut-execution-controller ## Build the command's and the controller's container images offline into dist/ (docker-archives: docker load, ctr images import).
	$(CACHE)/bin/imagebuild -bin $(CACHE)/bin -out dist -only kubernaut-execution -schemas $(CACHE)/schemas
	$(CACHE)/bin/imagebuild -bin $(CACHE)/bin -out dist/controller -only kubernaut-execution-controller
