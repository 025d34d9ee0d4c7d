# The two commands a person types on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit functional integration docs bench clean install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Re-install whenever the package's files change: Salt's loader finds modules through the
# installed copy (a non-editable install: see docs/installing.md).
$(STAMP): $(PY) setup.cfg pyproject.toml $(shell find _modules _runners _states _beacons _utils _output _proxy sim pkg -name '*.py' -o -name '*.yaml' 2>/dev/null)
	$(PY) -m pip install -q '.[tests,docs,lint]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) demo/run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

functional: $(STAMP)
	$(PY) -m pytest -q tests/functional

integration: $(STAMP)
	$(PY) -m pytest -q tests/integration

test: $(STAMP) lint docs
	$(PY) -m pytest -q -p no:cacheprovider tests

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) docs/_build .pytest_cache
