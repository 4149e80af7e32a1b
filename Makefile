# Two commands set everything up on a fresh machine: `make lab` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: lab test bench lint clean gallery

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# A stamp per extra: re-installs when pyproject.toml changes.
$(VENV)/.stamp-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[$*]'
	touch $@

# ARGS go to JupyterLab: make lab ARGS="--no-browser --port 8890"
lab: $(VENV)/.stamp-lab  ## open the quickstart notebook in JupyterLab (notebooks/ is its folder)
	$(BIN)/python -m nbviz demo $(ARGS)

# Two workers, one per core of the machine this was sized on; a worker takes a group of tests whole, in the order
# tests/conftest.py gives (the longest first).
test: $(VENV)/.stamp-test  ## run the whole test suite
	$(BIN)/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder

bench: $(VENV)/.stamp-test  ## run every benchmark and print one table
	$(BIN)/python -m benchmarks.run_all

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check nbviz tests benchmarks
	$(BIN)/ruff format --check nbviz tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache

# Every tab of five models at 900 and 1,600 px, light and dark, to artifacts/gallery/, checked as a person sees it.
# ARGS pick a subset: make gallery ARGS="--models cnn --widths 900 --themes dark"
gallery: $(VENV)/.stamp-test
	$(BIN)/python -m benchmarks.gallery $(ARGS)
