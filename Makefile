# The README's commands. Every target installs what it needs first, so each works on a fresh clone.

# The Python of the deploy runtime (var.runtime in infra/variables.tf, python313): the venv and
# so every test run on it, and tests/infra/test_runtime.py fails when the two differ. It is taken
# from pyenv's versions (as on this team's machines), else python3.13 on PATH; or give PYTHON=.
PYTHON_VERSION := 3.13
PYENV_ROOT ?= $(or $(shell pyenv root 2>/dev/null),$(HOME)/.pyenv)
PYTHON := $(firstword $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(PYTHON_VERSION).[0-9]*/bin/python3))) $(shell command -v python$(PYTHON_VERSION)))
IS_PYTHON_VERSION := -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(PYTHON_VERSION)".split("."))))'

VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(PYTHON_VERSION)

.PHONY: install lock chromium dev dev-reset test lint typecheck security audit unit bench deploy smoke smoke-local clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(or $(PYTHON),false) $(IS_PYTHON_VERSION) 2>/dev/null || { \
	  echo "make: the venv needs Python $(PYTHON_VERSION), the deploy runtime's, and" \
	    "PYTHON=$(or $(PYTHON),<not found>) is not that (looked for" \
	    "$(PYENV_ROOT)/versions/$(PYTHON_VERSION).*/bin/python3, then python$(PYTHON_VERSION) on PATH)." \
	    "Install it (pyenv install $(PYTHON_VERSION)) or name it: make PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; \
	  exit 1; }
	@if [ -x $(BIN)/python ] && ! $(BIN)/python $(IS_PYTHON_VERSION); then \
	  echo "make: $(VENV) is not on Python $(PYTHON_VERSION); making it anew" >&2; rm -rf $(VENV); fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

## lock: after editing a requirements*.in, compile the hash-locked requirements*.txt from them.
## The versions already locked are kept; LOCK_FLAGS=--upgrade (or "-P name") moves them on.
# Resolved for the deploy runtime's Python on Linux x86_64 (Cloud Functions' google-22 stack is
# Ubuntu 22.04, glibc 2.35). The header records both and a sha256 of the inputs, which
# tests/infra/test_locks.py checks: a .in edited without `make lock` fails the tests.
LOCK_PLATFORM := x86_64-manylinux_2_35
LOCK_FLAGS ?=
lock_inputs = $(1) $(if $(filter requirements-bench.in,$(1)),requirements-dev.in) \
  $(if $(filter-out requirements.in,$(1)),requirements.in)
define compile_lock
	$(BIN)/uv pip compile --quiet --generate-hashes $(LOCK_FLAGS) \
	  --python-version $(PYTHON_VERSION) --python-platform $(LOCK_PLATFORM) \
	  --custom-compile-command "make lock  # python $(PYTHON_VERSION) $(LOCK_PLATFORM) inputs sha256:$$(cat $(call lock_inputs,$(1)) | sha256sum | cut -c1-64)" \
	  $(1) -o $(1:.in=.txt)
endef
lock: install
	$(call compile_lock,requirements.in)
	$(call compile_lock,requirements-dev.in)
	$(call compile_lock,requirements-bench.in)

## chromium: Debian's Chromium for the browser tests, installed with apt when missing
chromium:
	@scripts/ensure-chromium.sh

## dev: the whole local stack (emulators, Google sandbox, the nine functions); Ctrl-C stops it.
## DEV_PORTS=free takes any free ports (or NAME=PORT words: DEV_PORTS="sandbox=9090"; the banner
## shows the ports taken), else the fixed ones; Firestore's data is kept in .dev/data/ across
## restarts unless DEV_DATA=memory (start empty, save nothing)
DEV_PORTS ?=
DEV_DATA ?= keep
dev: install
	$(BIN)/python -m devstack --ports "$(DEV_PORTS)" --data "$(DEV_DATA)"

## dev-reset: delete the data make dev keeps in .dev/data/ (refused while make dev runs)
dev-reset: install
	$(BIN)/python -m devstack --reset

## test: lint, type-check, audit, then every test (the suite starts the emulators itself)
test: lint typecheck security audit chromium
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## security: bandit on the deployed code; any medium or high finding fails
security: install
	$(BIN)/bandit --quiet --recursive functions main.py --severity-level medium

## audit: pip-audit of requirements.txt; a finding fails unless pip-audit-ignore.txt lists it with
## a reason, and so does an audit whose vulnerability service cannot be reached
audit: install
	scripts/audit.sh

## unit: the fast tests only, no emulators
unit: install
	$(BIN)/python -m pytest tests/unit

## bench: cold starts (also at each deployed CPU share), round trips, refresh storms and the quota-paced metadata read against baselines; writes docs/benchmark.*
bench: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bench.txt
	$(BIN)/python -m bench

## deploy: deploy with gcloud alone (PROJECT=... REGION=...); see docs/deploying.md. DEPLOY_FLAGS
## passes flags on to scripts/deploy.sh, e.g. DEPLOY_FLAGS="--dry-run --sizing list_messages.memory=1Gi"
DEPLOY_FLAGS ?=
deploy:
	scripts/deploy.sh --project "$(PROJECT)" --region "$(REGION)" $(DEPLOY_FLAGS)

## smoke: check a deployed project end to end, unattended (PROJECT=... REGION=...); see docs/deploying.md
smoke: install
	@test -n "$(PROJECT)" -a -n "$(REGION)" || { echo "make smoke: give PROJECT=... REGION=..." >&2; exit 2; }
	$(BIN)/python -m functions.cli smoke --project "$(PROJECT)" --region "$(REGION)"

## smoke-local: the same checks against the stack `make dev` is running (its .dev/env and logs)
smoke-local: install
	$(BIN)/python -m functions.cli smoke --local .dev

clean:
	rm -rf $(VENV) .dev .tools .mypy_cache .pytest_cache .ruff_cache .hypothesis test-artifacts
