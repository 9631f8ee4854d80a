# The newcomer's contract: `make demo` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The example host: its own `app` package and tests, run from its folder on this venv.
EXAMPLE := examples/clinic
# mypy cannot follow setuptools' editable finder for the renamed src/ directory, so the tests and the
# example are type-checked against the source through a portico -> src link (tests/packaging
# installs the wheel).
MYPY_PATH := $(VENV)/mypy-path

.PHONY: install demo test lint typecheck imports pytest example bench serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/portico demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP) $(MYPY_PATH)/portico
	$(BIN)/mypy
	MYPYPATH=$(MYPY_PATH) $(BIN)/mypy tests bench

$(MYPY_PATH)/portico:
	mkdir -p $(MYPY_PATH) && ln -sfn ../../src $(MYPY_PATH)/portico

imports: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/pytest

example: $(STAMP) $(MYPY_PATH)/portico
	cd $(EXAMPLE) && MYPYPATH=../../$(MYPY_PATH) ../../$(BIN)/mypy
	cd $(EXAMPLE) && ../../$(BIN)/pytest -q

test: lint typecheck imports pytest example

bench: $(STAMP)
	$(BIN)/python -m bench

serve: $(STAMP)
	$(BIN)/portico serve

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
	rm -rf $(EXAMPLE)/.mypy_cache $(EXAMPLE)/.pytest_cache
