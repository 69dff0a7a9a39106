# medserve — the two commands a newcomer types are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000
PYTEST_ARGS ?=

.PHONY: run test lint models models-if-missing layer bench openapi clean help test-sam

help:
	@echo "make run    - install into .venv and serve the local API on http://$(HOST):$(PORT)"
	@echo "make test   - the whole test suite (what CI runs)"
	@echo "make layer  - build the Lambda layer into build/layer and check its size"
	@echo "make models - rebuild the bundled models from training/"
	@echo "make bench  - latency and cold-start benchmarks"

# Two installs into one .venv, each redone whenever pyproject.toml changes (a stamp records each):
# `make run` needs the runtime and the local emulator only (no torch, scikit-learn or test stack);
# `make test` and `make models` add the dev extra (the test stack and the training stack).
$(VENV)/.installed-run: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local]'
	@touch $@

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

# checkov (template security checks) pins an old boto3: it gets its own venv, never the project's.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed:
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2'
	@touch $@

# Bundled models are committed; rebuild them only when one is missing (which needs the train extra:
# `medserve models build` says so in one line if it is not installed).
models-if-missing: $(VENV)/.installed-run
	@$(BIN)/medserve models build --if-missing

models: $(VENV)/.installed
	$(BIN)/medserve models build

run: $(VENV)/.installed-run models-if-missing
	$(BIN)/medserve serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed $(CHECKOV_VENV)/.installed models-if-missing
	$(BIN)/ruff check layers functions devtools training tests bench scripts
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/ruff check layers functions devtools training tests bench scripts
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --quiet --compact --skip-download

# GET /v1/openapi.json serves this committed document of every function's routes.
openapi: $(VENV)/.installed
	$(BIN)/python -m devtools.openapi

layer: $(VENV)/.installed
	bash layers/model/build_layer.sh build/layer

bench: $(VENV)/.installed
	$(BIN)/python bench/report.py

clean:
	rm -rf build .aws-sam .pytest_cache

# Every sample event through AWS's own `sam local invoke` (Docker; a stand-in base image when AWS's
# cannot be pulled). Installs what it needs as root; fails, never skips, where Docker cannot run.
test-sam: $(VENV)/.installed models-if-missing
	bash scripts/sam/test_sam.sh
