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
test: $(STAMP) controlplane lint crds-check chart-check ## Run every check and test (the CI command)
	$(BIN)/pytest

.PHONY: unit
unit: $(STAMP) ## Unit tests only (no cluster)
	$(BIN)/pytest tests/unit

.PHONY: fuzz
fuzz: $(STAMP) controlplane ## Fuzz the apiserver and the operator with 1000 task definitions (ECS_FUZZ_SEED replays)
	ECS_FUZZ_CASES=1000 $(BIN)/pytest -s tests/integration/test_bad_input.py -k fuzz

KIND_CLUSTER ?= ecs-e2e
KWOK_RELEASE := https://github.com/kubernetes-sigs/kwok/releases/download/v0.8.0
.PHONY: e2e-kind
e2e-kind: $(STAMP) helm ## kind + image + helm install, then the same integration suite (needs Docker; not on this machine)
	kind create cluster --name $(KIND_CLUSTER)
	docker build -t ecs-operator:e2e .
	kind load docker-image ecs-operator:e2e --name $(KIND_CLUSTER)
	kubectl apply -f $(KWOK_RELEASE)/kwok.yaml
	$(BIN)/python -c 'import yaml,sys; from importlib import resources as r; docs=[d for d in yaml.safe_load_all(r.files("ecs_operator.devcluster").joinpath("kwok-stages.yaml").read_text()) if d and d["kind"]=="Stage"]; print(yaml.safe_dump_all(docs))' | kubectl apply -f -
	$(HELM) install ecs-operator charts/ecs-operator --namespace ecs-system --create-namespace \
	  --set image.repository=ecs-operator --set image.tag=e2e --set image.pullPolicy=Never \
	  --set 'watchNamespaces={t-*}' --wait
	ECS_TEST_OPERATOR=external ECS_TEST_KWOK=1 KUBECONFIG=$$(kind get kubeconfig-path 2>/dev/null || echo $$HOME/.kube/config) \
	  $(BIN)/pytest -m controlplane tests/integration

##@ Development

.PHONY: venv
venv: $(STAMP) ## Create .venv with the package and its test tools

# Debian's python3 creates virtualenvs only with python3-venv: installed here when missing (as
# root), otherwise one line says how.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing python3-venv (apt-get), which python3 -m venv needs"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else echo "error: $(PYTHON) cannot create a virtualenv: sudo apt-get install python3-venv, then make again" >&2; \
	    exit 1; fi; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: controlplane
controlplane: $(STAMP) ## Build the pinned Kubernetes, kwok and etcd binaries into ~/.cache (once per pin)
	$(BIN)/ecs-operator controlplane

CRD_DIRS := crds charts/ecs-operator/crds

.PHONY: crds
crds: $(STAMP) ## Regenerate crds/ (and the chart's copy) from the pydantic models
	$(BIN)/python -m ecs_operator.ecs.crds $(CRD_DIRS)

.PHONY: crds-check
crds-check: $(STAMP) ## Fail when crds/ is not what the models generate
	$(BIN)/python -m ecs_operator.ecs.crds $(CRD_DIRS) --check

##@ Reliability

.PHONY: chaos chaos-long
chaos: $(STAMP) controlplane ## kill -9 the operator during a burst (300 tasks, 10 kills); prints kills= duplicates= lost=
	$(BIN)/python bench/chaos.py --tasks $(or $(TASKS),300) --kills $(or $(KILLS),10)
chaos-long: $(STAMP) controlplane ## The same with 2,000 tasks and 50 kills
	$(BIN)/python bench/chaos.py --tasks 2000 --kills 50
.PHONY: chaos-failover
chaos-failover: $(STAMP) controlplane ## Two replicas (leader election): kill -9 the leader during a burst (KILLS=10, RATE=3 tasks/s; STOP=term: SIGTERM, a handover); prints failover_s= overlaps=
	$(BIN)/python bench/failover.py --kills $(or $(KILLS),10) --rate $(or $(RATE),3) --stop $(or $(STOP),kill)

##@ Performance

BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $@

.PHONY: bench
bench: $(STAMP) $(BENCH_STAMP) controlplane ## Operator vs Kubernetes floor: tasks/s, latency, API calls, CPU, RSS (TASKS=1000; DOCS=1 rewrites docs/benchmarks.md; BENCH_ARGS=...)
	$(BIN)/python bench/bench.py --tasks $(or $(TASKS),1000) $(if $(DOCS),--write-docs) $(BENCH_ARGS)

.PHONY: bench-endpoint
bench-endpoint: $(STAMP) controlplane ## The ECS endpoint: RunTask vs op1, DescribeTasks vs moto, the server stack, in one run (TASKS=1000 CLIENTS=32)
	$(BIN)/python bench/bench_endpoint.py --tasks $(or $(TASKS),1000) --clients $(or $(CLIENTS),32) $(BENCH_ARGS)

.PHONY: bench-services
bench-services: $(STAMP) $(BENCH_STAMP) controlplane ## ECS services vs a ReplicaSet (scale 0 → N) and a Deployment (rolling update of N/2), in one run (TASKS=1000)
	$(BIN)/python bench/bench.py --tasks $(or $(TASKS),1000) --scenarios rs,svc,deploy,roll $(BENCH_ARGS)

.PHONY: soak
soak: $(STAMP) controlplane ## Churn soak: create/stop 20 tasks/s for 30 minutes; operator RSS growth (MINUTES=30)
	$(BIN)/python bench/soak.py --minutes $(or $(MINUTES),30) --rate $(or $(RATE),20)

##@ Delivery

HELM = $(shell $(BIN)/python -c 'from ecs_operator.devcluster.build import helm_binary; print(helm_binary())')

.PHONY: helm
helm: $(STAMP) ## Build the pinned helm into ~/.cache (once)
	$(BIN)/python -m ecs_operator.devcluster.build --helm

MANIFESTS := manifests/ecs-operator.yaml
define render_manifests
	{ echo "# Generated by \`make manifests\` from charts/ecs-operator (helm template, default values): do not edit."; \
	  echo "# Install: kubectl apply --server-side -f manifests/"; \
	  echo "---"; echo "apiVersion: v1"; echo "kind: Namespace"; echo "metadata:"; echo "  name: ecs-system"; \
	  $(HELM) template ecs-operator charts/ecs-operator --namespace ecs-system --include-crds; }
endef

.PHONY: manifests
manifests: helm crds ## Render manifests/ from the Helm chart
	mkdir -p manifests
	$(render_manifests) > $(MANIFESTS)

.PHONY: chart-check
chart-check: helm crds-check ## helm lint; manifests/ up to date (the dry run against the apiserver is a test)
	$(HELM) lint --strict charts/ecs-operator
	$(HELM) lint --strict charts/ecs-operator --set 'watchNamespaces={team-a,team-b}'
	diff -u $(MANIFESTS) <($(render_manifests)) || { echo "manifests/ is stale: run make manifests" >&2; exit 1; }

.PHONY: lint
lint: $(STAMP) ## ruff, mypy and the import contracts (import-linter)
	$(BIN)/ruff check operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

DEV_DIR ?= .dev-cluster
.PHONY: dev-up dev-down
dev-up: controlplane ## Start a local control plane in $(DEV_DIR) (KUBECONFIG=$(DEV_DIR)/kubeconfig)
	$(BIN)/ecs-operator dev-cluster up --dir $(DEV_DIR)
dev-down: $(STAMP) ## Stop it
	$(BIN)/ecs-operator dev-cluster down --dir $(DEV_DIR)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z_-]+:.*##/ {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
