# kubernaut-execution: one catalogue, one generator, every manifest.
SHELL := /usr/bin/env bash -o pipefail
export GOTOOLCHAIN := local

GO ?= go
# Generated JSON schemas and built tools live here; never committed.
CACHE ?= $(CURDIR)/.cache
export KUBERNAUT_CACHE := $(CACHE)

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: ## Regenerate every generated file from catalogue/actions.yaml and print what was written.
	$(GO) run ./gen

.PHONY: verify
verify: generate ## Regenerate and fail on any difference from the committed files, printing the fix.
	@if [ -n "$$(git status --porcelain -- charts kustomize networkpolicies docs)" ]; then \
		git status --short -- charts kustomize networkpolicies docs; \
		echo "Generated files were stale and are now regenerated (the same as make generate): review and commit them."; exit 1; \
	fi

.PHONY: fmt
fmt: ## Format Go code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

##@ Testing

.PHONY: test
test: vet ## Run every test layer: unit, golden, render matrix, kustomize, schema (kubeconform).
	$(GO) test ./... -count=1

.PHONY: schemas
schemas: ## Generate the offline Kubernetes JSON schemas into $(CACHE)/schemas (tests do this on demand).
	$(GO) run ./tests/kubeschema/cmd -cache $(CACHE)

.PHONY: bench
bench: ## Benchmark generate + render: shipped catalogue, synthetic 100 and 1,000 actions.
	$(GO) test ./gen/generate -run '^$$' -bench . -benchmem -count 5
