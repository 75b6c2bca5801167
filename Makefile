# The two commands: `make dev` (try it) and `make test` (the whole suite). Both bootstrap.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: dev test lint format bench install migrate

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --quiet

dev: install
	@$(UV) run taskplane dev $(ARGS)

test: install
	@scripts/ensure-chromium
	@$(UV) run pytest $(ARGS)

lint: install
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run mypy

format: install
	@$(UV) run ruff format .
	@$(UV) run ruff check --fix .

migrate: install
	@$(UV) run taskplane migrate

bench: install
	@$(UV) run python -m bench $(ARGS)
