# kubernaut-execution: one catalogue, one generator, every manifest.
SHELL := /usr/bin/env bash -o pipefail
export GOTOOLCHAIN := local

GO ?= go
# Generated JSON schemas and built tools live here; never committed.
CACHE ?= $(CURDIR)/.cache
export KUBERNAUT_CACHE := $(CACHE)
OPA := $(CACHE)/bin/opa
STATICCHECK := $(CACHE)/bin/staticcheck
# The control plane the real-cluster tests start, built from tools/kube (about 10 minutes cold).
KUBE_BINS := $(addprefix $(CACHE)/bin/,etcd kube-apiserver kube-controller-manager kubectl)
# Stamped into the binaries as the release build does; Helm checks the API server's version.
KUBE_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2; exit }' tools/kube/go.mod)
KUBE_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) -X k8s.io/component-base/version.gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(KUBE_VERSION)))) -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) -X k8s.io/component-base/version.gitTreeState=clean

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: ## Regenerate every generated file from catalogue/actions.yaml and print what was written.
	$(GO) run ./gen

.PHONY: verify
verify: generate ## Regenerate and fail on any difference from the committed files, printing the fix.
	@owned="$$($(GO) run ./gen owned)"; if [ -n "$$(git status --porcelain -- $$owned)" ]; then \
		git status --short -- $$owned; \
		echo "Generated files were stale and are now regenerated (the same as make generate): review and commit them."; exit 1; \
	fi

.PHONY: fmt
fmt: ## Format Go code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: vet $(STATICCHECK) $(OPA) ## go vet, staticcheck, opa fmt and opa check --strict on every policy and rule.
	$(STATICCHECK) ./...
	$(OPA) fmt --fail -l policies gen/check/rules
	$(OPA) check --strict policies
	$(OPA) check --strict gen/check/rules

##@ Testing

.PHONY: test
test: lint tools ## Run every test layer: unit, golden, render, kustomize, schema, policies, Tekton, gate, conformance, real cluster.
	$(GO) test ./... -count=1 -timeout 30m

.PHONY: test-fast
test-fast: vet $(OPA) ## Every layer but the real-cluster ones, for the edit-test loop.
	$(GO) test $$($(GO) list ./... | grep -v /tests/e2e) -count=1 -timeout 20m

.PHONY: policy-test
policy-test: tools ## Run the policy tests only: opa test with 100% coverage, schema type-check, the gate steps.
	$(GO) test ./gen/policy ./tests -count=1 -run 'Polic|TypeCheck|Gate'

.PHONY: e2e
e2e: tools ## Run the real-cluster layer alone (etcd + kube-apiserver + kube-controller-manager on loopback).
	$(GO) test ./tests/e2e -count=1 -v -timeout 30m

.PHONY: tools
tools: $(OPA) $(KUBE_BINS) ## Build the pinned tools the tests run (opa, etcd, kube-apiserver, kube-controller-manager, kubectl).

$(OPA): tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(OPA) github.com/open-policy-agent/opa

$(STATICCHECK): tools/lint/go.mod tools/lint/go.sum
	cd tools/lint && $(GO) build -o $@ honnef.co/go/tools/cmd/staticcheck

$(CACHE)/bin/etcd: tools/kube/go.mod tools/kube/go.sum
	cd tools/kube && $(GO) build -o $@ go.etcd.io/etcd/server/v3

$(CACHE)/bin/kube-%: tools/kube/go.mod tools/kube/go.sum
	cd tools/kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kube-$*

$(CACHE)/bin/kubectl: tools/kube/go.mod tools/kube/go.sum
	cd tools/kube && $(GO) build -ldflags "$(KUBE_LDFLAGS)" -o $@ k8s.io/kubernetes/cmd/kubectl

.PHONY: schemas
schemas: ## Generate the offline Kubernetes JSON schemas into $(CACHE)/schemas (tests do this on demand).
	$(GO) run ./gen/schemas/cmd -cache $(CACHE)

.PHONY: bench
bench: tools ## Benchmarks: generate + render, gate decisions (in process and CLI step), gen check, per-run RBAC (300 runs, 50 concurrent, sweep of 1,000), redaction.
	$(GO) test ./gen/generate -run '^$$' -bench . -benchmem -count 5
	$(GO) test ./tests -run '^$$' -bench 'Gate|Check' -benchmem -count 5
	$(GO) test ./execution/gate -run '^$$' -bench Decide -benchtime 5000x -count 3
	$(GO) test ./redact -run '^$$' -bench Redact10MiB -benchtime 3x -count 3
	$(GO) test ./tests/e2e -run '^$$' -bench 'RunRBAC$$' -benchtime 300x -count 3
	$(GO) test ./tests/e2e -run '^$$' -bench 'RunRBACConcurrent|Sweep1000' -benchtime 3x -count 1
