# Interval: the two commands a new user needs.
#   make run   - set up everything and open the demo case
#   make test  - set up everything and run the whole test suite (what CI runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench demo lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	@bash scripts/system-deps.sh --gui
	$(BIN)/interval

test: $(STAMP)
	@bash scripts/system-deps.sh
	$(BIN)/lint-imports
	$(BIN)/ruff check viewer tests benchmarks sample_scans
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_load.py

demo: $(STAMP)
	$(BIN)/python sample_scans/generate_demo.py

lint: $(STAMP)
	$(BIN)/ruff check viewer tests benchmarks sample_scans
	$(BIN)/ruff format --check viewer tests benchmarks sample_scans

clean:
	rm -rf $(VENV) .pytest_cache
