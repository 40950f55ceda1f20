# The two set-up commands of the README. Both create .venv if needed and install into it.
#   make run    install, then run the default experiments (snakemake --cores $(CORES))
#   make test   install with the test extras, then run the test suite (pytest)
#   make bench  install with the benchmark extras, then print the benchmark table
#   make install-locked  install the exact versions of requirements.lock (the tested environment,
#               to reproduce published numbers), then the package from this checkout
# TORCH is installed first and on its own: the pin takes the CPU build where one is provided
# locally; override it (e.g. TORCH="torch --index-url https://download.pytorch.org/whl/cu124")
# for a CUDA machine. A range that the installed torch satisfies then installs nothing more.

PYTHON ?= python3
VENV ?= .venv
CORES ?= 2
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: install install-test install-bench install-locked run test bench lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e .

install-locked: $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .

install-test: install
	$(BIN)/pip install --quiet -e '.[test]'

install-bench: install
	$(BIN)/pip install --quiet -e '.[bench]'

run: install
	$(BIN)/snakemake --cores $(CORES)

test: install-test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install-bench
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/snakefmt --check workflow && $(BIN)/snakemake --lint
