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

.PHONY: help setup run test lint format requirements check-requirements upgrade-requirements migrate bench-api bench-deploy e2e rotate-secrets

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

lint: setup ## Check code style (ruff), docker files (Compose schema, hadolint), provisioning (ansible-lint)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/hadolint Dockerfile
	cd provisioning && $(abspath $(BIN))/python install-collections
	cd provisioning && PATH="$(abspath $(BIN)):$$PATH" LC_ALL=C.UTF-8 ansible-lint

format: setup ## Fix code style (ruff)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

requirements: setup ## Recompile requirements/*.txt after editing a .in file
	PATH="$(abspath $(BIN)):$$PATH" requirements/compile

check-requirements: setup ## Fail if a requirements .txt is out of date with its .in
	PATH="$(abspath $(BIN)):$$PATH" requirements/compile --check

upgrade-requirements: setup ## Move every pin to the newest release the .in files allow
	PATH="$(abspath $(BIN)):$$PATH" requirements/compile --upgrade

bench-api: setup ## Benchmark the API under gunicorn on PostgreSQL (needs wrk, see README)
	$(BIN)/python -m benchmarks.api

bench-deploy: setup ## Benchmark deploys and rollbacks on a throw-away server (needs root, see README)
	E2E_VENV="$(abspath $(VENV))" $(BIN)/python -m benchmarks.deploy

# A rotation in five steps: new values the services accept beside the old,
# the env file, a restart of the app and worker with no failed request, then
# the old values refused. Run again after a failure, it carries on.
INVENTORY ?= provisioning/hosts
FAB ?= $(BIN)/fab
ROTATION_USAGE := usage: make rotate-secrets HOST=host TARGET=target SECRETS="postgresql redis rabbitmq django_secret_key"

rotate-secrets: ## Rotate secrets with no failed request: HOST= TARGET= SECRETS= (see README)
	@[ -n "$(HOST)" ] && [ -n "$(TARGET)" ] && [ -n "$(SECRETS)" ] || { echo '$(ROTATION_USAGE)' >&2; exit 2; }
	provisioning/secrets rotate $(HOST) $(SECRETS) --inventory=$(abspath $(INVENTORY))
	provisioning/provision_all --inventory=$(abspath $(INVENTORY)) --limit=$(HOST) $(PROVISION_ARGS)
	$(FAB) restart --target=$(TARGET)
	provisioning/secrets retire $(HOST) --inventory=$(abspath $(INVENTORY))
	provisioning/provision_all --inventory=$(abspath $(INVENTORY)) --limit=$(HOST) $(PROVISION_ARGS)

e2e: setup ## Every end-to-end scenario on throw-away Debian servers (needs root, see README)
	E2E_VENV="$(abspath $(VENV))" provisioning/test/run $(E2E_ARGS)
