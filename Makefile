# The two commands a newcomer needs: `make run` and `make test`. Both set up the
# environment from uv.lock first, so they work on a fresh machine with Python 3.11.

# the interpreter that creates the environment (found before .venv/bin joins PATH)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION ?= 0.13.9
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install run test lint format bench clean prefect-up prefect-down deploy evidence score git-repo

help:
	@echo "make run     install from uv.lock, then run the training pipeline (Prefect flow)"
	@echo "make test    install, then run pre-commit hooks and the test suite"
	@echo "make lint    pre-commit hooks only (ruff lint + format, hygiene)"
	@echo "make bench   benchmarks/ on the full data (slow)"
	@echo "make evidence  everything mlpipe score reads (pipeline, tuning, tests, serving,"
	@echo "               monitoring), then the ML Test Score"
	@echo "make clean   remove pipeline outputs and local stores (keeps .venv)"
	@echo "make prefect-up / deploy / prefect-down   local Prefect server + worker, deployments"

# a project generated for another Python than uv.lock's has no lock: uv resolves one
LOCK := $(wildcard uv.lock)

$(BIN)/.installed: pyproject.toml $(LOCK)
	@$(MAKE) --no-print-directory git-repo
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv sync --compile-bytecode $(if $(LOCK),--frozen)
	@touch $@

# a new project (copier copy) becomes a git repository with a first commit: DVC and the
# lineage of registered models need one
git-repo:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { \
		git init -q && git add -A && \
		{ git config user.email >/dev/null || git config user.email "mlpipe@localhost"; } && \
		{ git config user.name >/dev/null || git config user.name "mlpipe"; } && \
		git commit -qm "New project from the mlpipe template" && \
		echo "git: initialised this project with a first commit"; }

install: $(BIN)/.installed

run: install
	mlpipe run

lint: install
	pre-commit run --all-files --show-diff-on-failure

format: install
	ruff format . && ruff check --fix .

# Tests run in random order (pytest-randomly; every xdist worker gets the same seed). The
# seed is printed at the top ("Using --randomly-seed=N"): `make test SEED=N` replays it.
test: install lint
	pytest -n 2 --dist loadgroup -p randomly $(if $(SEED),--randomly-seed=$(SEED)) --junitxml=reports/tests/junit.xml

evidence: install
	bash .ci/evidence

score: install
	mlpipe score

bench: install
	python benchmarks/pipeline.py

clean:
	rm -rf data/raw data/raw.provenance.json data/features models reports mlflow.db mlartifacts

# --- scheduled runs: a local Prefect server, a process work pool and a worker -----------
PREFECT_PORT ?= 4200
PREFECT_URL := http://127.0.0.1:$(PREFECT_PORT)/api
RUN_DIR := .mlpipe

prefect-up: install
	@mkdir -p $(RUN_DIR)
	@nohup prefect server start --host 127.0.0.1 --port $(PREFECT_PORT) \
		> $(RUN_DIR)/prefect-server.log 2>&1 & echo $$! > $(RUN_DIR)/prefect-server.pid
	@for i in $$(seq 1 120); do \
		curl -sf $(PREFECT_URL)/health >/dev/null && break; sleep 1; done
	@curl -sf $(PREFECT_URL)/health >/dev/null || (echo "Prefect server did not start: $(RUN_DIR)/prefect-server.log"; exit 1)
	PREFECT_API_URL=$(PREFECT_URL) prefect work-pool create mlpipe-local --type process --overwrite
	@PREFECT_API_URL=$(PREFECT_URL) MLPIPE_ROOT=$(CURDIR) nohup prefect worker start \
		--pool mlpipe-local > $(RUN_DIR)/prefect-worker.log 2>&1 & echo $$! > $(RUN_DIR)/prefect-worker.pid
	@echo "Prefect UI: http://127.0.0.1:$(PREFECT_PORT)  (export PREFECT_API_URL=$(PREFECT_URL))"

deploy: install
	PREFECT_API_URL=$(PREFECT_URL) MLPIPE_ROOT=$(CURDIR) prefect --no-prompt deploy --all

prefect-down:
	-@for name in worker server; do \
		pid=$$(cat $(RUN_DIR)/prefect-$$name.pid 2>/dev/null) || continue; \
		kill $$pid 2>/dev/null; \
		for i in $$(seq 1 20); do kill -0 $$pid 2>/dev/null || break; sleep 0.5; done; \
		kill -9 $$pid 2>/dev/null; rm -f $(RUN_DIR)/prefect-$$name.pid; \
	done
	@echo "Prefect server and worker stopped"
