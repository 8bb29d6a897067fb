# The two commands a newcomer needs: `make run` and `make test`. Both set up the
# environment from uv.lock first, so they work on a fresh machine with Python 3.11.

# the interpreter that creates the environment (found before .venv/bin joins PATH)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION ?= 0.13.9
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install run test lint format bench clean

help:
	@echo "make run     install from uv.lock, then run the training pipeline (Prefect flow)"
	@echo "make test    install, then run pre-commit hooks and the test suite"
	@echo "make lint    pre-commit hooks only (ruff lint + format, hygiene)"
	@echo "make bench   benchmarks/ on the full data (slow)"
	@echo "make clean   remove pipeline outputs and local stores (keeps .venv)"

$(BIN)/.installed: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(PYTHON) -m uv sync --frozen
	@touch $@

install: $(BIN)/.installed

run: install
	mlpipe run

lint: install
	pre-commit run --all-files --show-diff-on-failure

format: install
	ruff format . && ruff check --fix .

test: install lint
	pytest -n 2 --dist loadgroup

bench: install
	python benchmarks/pipeline.py

clean:
	rm -rf data/raw data/raw.provenance.json data/features models reports mlflow.db mlartifacts
