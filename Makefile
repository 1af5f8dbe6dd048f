# The README's commands. Every target installs what it needs first, so each works on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install chromium dev test lint typecheck security unit bench deploy clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

## chromium: Debian's Chromium for the browser tests, installed with apt when missing
chromium:
	@scripts/ensure-chromium.sh

## dev: the whole local stack (emulators, Google sandbox, the three functions); Ctrl-C stops it
dev: install
	$(BIN)/python -m devstack

## test: lint, type-check, then every test (the suite starts the emulators itself)
test: lint typecheck security chromium
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

## security: bandit on the deployed code; any medium or high finding fails
security: install
	$(BIN)/bandit --quiet --recursive functions main.py --severity-level medium

## unit: the fast tests only, no emulators
unit: install
	$(BIN)/python -m pytest tests/unit

## bench: cold starts (also at each deployed CPU share), round trips and refresh storms against baselines; writes docs/benchmark.*
bench: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python -m bench

## deploy: deploy with gcloud alone (PROJECT=... REGION=...); see docs/deploying.md
deploy:
	scripts/deploy.sh --project "$(PROJECT)" --region "$(REGION)"

clean:
	rm -rf $(VENV) .dev .tools .mypy_cache .pytest_cache .ruff_cache .hypothesis test-artifacts
