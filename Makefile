# ECS on Kubernetes: every target bootstraps what it needs (a .venv in the repo, the pinned
# control-plane binaries in ~/.cache/ecs-operator), so each works on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

##@ Main

.PHONY: run
run: $(STAMP) controlplane ## The main job: operator + demo tasks (local control plane unless KUBECONFIG); HOLD=1 keeps it up
	$(BIN)/ecs-operator demo $(if $(HOLD),--hold)

.PHONY: test
test: $(STAMP) controlplane lint crds-check ## Run every check and test (the CI command)
	$(BIN)/pytest

.PHONY: unit
unit: $(STAMP) ## Unit tests only (no cluster)
	$(BIN)/pytest tests/unit

##@ Development

.PHONY: venv
venv: $(STAMP) ## Create .venv with the package and its test tools

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: controlplane
controlplane: $(STAMP) ## Build the pinned Kubernetes + kwok binaries into ~/.cache (once per pin)
	$(BIN)/ecs-operator controlplane

.PHONY: crds
crds: $(STAMP) ## Regenerate crds/ from the pydantic models
	$(BIN)/python -m ecs_operator.crdgen crds

.PHONY: crds-check
crds-check: $(STAMP) ## Fail when crds/ is not what the models generate
	$(BIN)/python -m ecs_operator.crdgen crds --check

.PHONY: lint
lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check operator tests
	$(BIN)/mypy

DEV_DIR ?= .dev-cluster
.PHONY: dev-up dev-down
dev-up: controlplane ## Start a local control plane in $(DEV_DIR) (KUBECONFIG=$(DEV_DIR)/kubeconfig)
	$(BIN)/ecs-operator dev-cluster up --dir $(DEV_DIR)
dev-down: $(STAMP) ## Stop it
	$(BIN)/ecs-operator dev-cluster down --dir $(DEV_DIR)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
