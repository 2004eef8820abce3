# snapkit: `make demo` and `make test` are all the set-up a fresh machine needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[examples]"
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@ $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: $(TEST_STAMP)
	$(BIN)/ruff check snapkit tests benchmarks
	$(BIN)/python -m pytest -q

# snapkit against DVC into benchmarks/RESULTS.md. `make bench QUICK=1` runs in under 2 minutes;
# BENCH_ARGS="--scenario take --reps 5" passes options (python -m benchmarks --help).
$(BENCH_STAMP): pyproject.toml $(TEST_STAMP)
	$(BIN)/pip install --quiet -e ".[test,bench]"
	touch $@

bench: $(TEST_STAMP) $(BENCH_STAMP)
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick) $(BENCH_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check snapkit tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
