# The two commands: `make dev` (try it) and `make test` (the whole suite). Both bootstrap:
# uv comes from pip (into the user's site when the system Python is externally managed).
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: dev test lint format bench bench-profile bench-report install migrate screenshots

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv 2>/dev/null \
		|| python3 -m pip install --quiet --user --break-system-packages uv
	@$(UV) sync --quiet

dev: install
	@$(UV) run taskplane dev $(ARGS)

# in parallel (pytest-xdist): most tests wait on real processes, servers and chromium, so
# TEST_WORKERS processes beat one even on 2 cores; each worker has its own database, and a
# module's tests stay on one worker (loadscope: its module-scoped stack starts once)
TEST_WORKERS ?= 2
test: install
	@scripts/ensure-chromium
	@$(UV) run pytest -n $(TEST_WORKERS) --dist loadscope $(ARGS)

# the dashboard's images in docs/img, taken by its browser tests (never by a plain `make test`)
screenshots: install
	@scripts/ensure-chromium
	@TASKPLANE_TEST_SCREENSHOTS=1 $(UV) run pytest tests/dashboard -q -m browser $(ARGS)

# mypy: strict on the package (pyproject's `files`), then tests (typed, relaxed override) and bench
lint: install
	@$(UV) run ruff check .
	@$(UV) run ruff format --check .
	@$(UV) run mypy
	@$(UV) run mypy tests bench

format: install
	@$(UV) run ruff format .
	@$(UV) run ruff check --fix .

migrate: install
	@$(UV) run taskplane migrate

# every benchmark measured unprofiled, then a short profiled pass of each (flame graphs in
# docs/img/profiles/); each result is stored in bench/stored/<name>.json (commit them) and
# docs/benchmarks.md is regenerated from the stored results alone
bench: install
	@scripts/ensure-wrk
	@$(UV) run python -m bench --profile $(ARGS)

bench-profile: install
	@$(UV) run python -m bench --profile-only $(ARGS)

# no run: docs/benchmarks.md again from bench/stored/ (tests/bench/test_report.py checks it)
bench-report: install
	@$(UV) run python -m bench --report-only
