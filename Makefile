# Short names for the commands used every day. `make help` lists them.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help

# template-only:start
# Commands of the template itself. fixrefs removes this block from new projects.
.PHONY: demo test-template

demo: ## Create a demo project from this template and run it on http://127.0.0.1:8000
	.template/bin/demo

test-template: ## Run every test of the template (what CI runs)
	.template/bin/test
# template-only:end

.PHONY: help setup run test lint format requirements check-requirements upgrade-requirements migrate

help: ## List the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 24

# Reinstalled whenever the lock changes.
$(VENV)/.installed: requirements/development.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/development.txt
	touch $@

setup: $(VENV)/.installed ## Create .venv with the development requirements

migrate: setup ## Apply database migrations
	./manage migrate

run: migrate ## Run the development server (runserver_plus) on http://127.0.0.1:8000
	./manage runserver_plus 127.0.0.1:8000

test: setup ## Run the project's tests
	$(BIN)/pytest

lint: setup ## Check code style (ruff)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup ## Fix code style (ruff)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

requirements: setup ## Recompile requirements/*.txt after editing a .in file
	PATH="$(CURDIR)/$(BIN):$$PATH" requirements/compile

check-requirements: setup ## Fail if a requirements .txt is out of date with its .in
	PATH="$(CURDIR)/$(BIN):$$PATH" requirements/compile --check

upgrade-requirements: setup ## Move every pin to the newest release the .in files allow
	PATH="$(CURDIR)/$(BIN):$$PATH" requirements/compile --upgrade
