# Quick start: `make demo` and `make test`; each creates .venv and installs on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kdaudit-installed

.PHONY: demo test test-slow bench lint clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, exactly this version: the local CPU wheel (anything else pulls CUDA builds)
	$(PY) -m pip install -q torch==2.13.0
	# the editable build's setuptools notice is not for users of this Makefile
	PYTHONWARNINGS=ignore $(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m kdaudit demo --out sample_reports --update-docs docs/reproduction.md
	$(PY) -m kdaudit demo --tabular --out sample_reports/tabular
	$(PY) -m kdaudit demo --text --out sample_reports/text

test: $(STAMP)
	$(PY) -m pytest -q -n 2

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(PY) -m ruff check kdaudit tests bench
	$(PY) -m ruff format --check kdaudit tests bench
	$(PY) -m mypy kdaudit
	$(VENV)/bin/lint-imports  # the import layers of pyproject.toml [tool.importlinter]

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
