# pgrec: `make help` lists the targets. Every target installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: anything unpinned would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install pgrec with its pinned dependencies

run: install ## embedded Postgres, migrate, load + embed the sample, then serve the API
	$(BIN)/pgrec db start
	$(BIN)/pgrec migrate
	$(BIN)/pgrec ingest data/netflix_sample.csv --format netflix
	$(BIN)/pgrec embed
	$(BIN)/pgrec neighbors refresh
	$(BIN)/pgrec clusters refresh
	$(BIN)/pgrec cooccurrence refresh
	@echo
	@echo "catalog:  psql \"\$$($(BIN)/pgrec db url)\" -c 'select count(*) from items'"
	@echo
	@echo "dev mode (PGREC_DEV=1): without PGREC_API_KEY, writes are open to anyone on this machine"
	PGREC_DEV=1 $(BIN)/pgrec serve --host 127.0.0.1 --port $(PORT)

test: install ## run the whole test suite on a real PostgreSQL
	$(BIN)/python -m pytest

lint: install ## ruff and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy api db jobs pgrec bench

bench: install ## the quick benchmark run: writes bench/REPORT.md (see bench/README.md)
	$(BIN)/pgrec bench --quick

clean: ## stop the embedded server and remove .venv and .pgrec
	-$(BIN)/pgrec db stop
	rm -rf $(VENV) .pgrec

.PHONY: help install run test lint bench clean
