# The two commands a person types on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The Salt releases the tests run on (setup.cfg only sets the floor, salt>=3006). The main venv has
# SALT and runs every tier; .venv-3006 and .venv-3007 run the unit and functional tiers. Newer
# 3006/3007 patch releases need a certifi release that cannot be installed here.
SALT := 3008.4
SALT_3006 := 3006.29
SALT_3007 := 3007.16
OLD := 3006 3007

VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' pkg/saltext/vpkg/__init__.py)
WHEEL := dist/salt_vpkg-$(VERSION)-py3-none-any.whl
SIM_WHEEL := dist/salt_vpkg_sim-$(VERSION)-py3-none-any.whl
SOURCES := setup.cfg pyproject.toml sim/setup.cfg sim/pyproject.toml LICENSE README.md \
	$(sort $(shell find _modules _runners _states _beacons _utils _output _proxy _grains pkg/saltext/vpkg sim sim/examples \
		-maxdepth 1 \( -name '*.py' -o -name '*.yaml' \) 2>/dev/null))

.PHONY: FORCE demo test lint unit functional integration docs bench clean install dist bytecode $(OLD:%=test-%)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Both wheels, from a clean build folder: setuptools copies sources into build/ and never removes
# what is gone from the tree, so a reused build/ would ship deleted files (tests/packaging).
# .sources.list changes when a source file is added or removed (no remaining file changes then).
dist: dist/.built
.sources.list: FORCE
	@echo '$(SOURCES)' | cmp -s - $@ || echo '$(SOURCES)' > $@
dist/.built: $(PY) $(SOURCES) .sources.list
	rm -rf build sim/build dist *.egg-info sim/*.egg-info
	$(PY) -m pip wheel -q --no-deps -w dist . ./sim
	touch $@

# Non-editable: Salt's loader finds modules through the installed copy (docs/installing.md). The
# --force-reinstall runs put the wheels just built in place even when the version did not change,
# the simulator last (a salt-vpkg installed before 0.1.0 split off the simulator still lists its
# files, and uninstalling it removes them).
INSTALL = $(1)/bin/python -m pip install -q 'salt==$(2)' '$(WHEEL)[$(3)]' $(SIM_WHEEL) && \
	$(1)/bin/python -m pip install -q --no-deps --force-reinstall $(WHEEL) && \
	$(1)/bin/python -m pip install -q --no-deps --force-reinstall $(SIM_WHEEL)

EXTRAS := tests,docs,lint,sim
OLD_EXTRAS := tests,sim

$(STAMP): dist/.built
	$(call INSTALL,$(VENV),$(SALT),$(EXTRAS))
	touch $(STAMP)

.venv-%/.installed: dist/.built
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	$(call INSTALL,.venv-$*,$(SALT_$*),$(OLD_EXTRAS))
	touch $@

install: $(STAMP)

# The daemons of the demo, the tests and the benchmarks load our modules from this checkout
# (*_dirs). Compiled once here, as a minion compiles what it syncs: a machine whose environment
# sets PYTHONDONTWRITEBYTECODE (this one does) otherwise compiles every helper again in every
# minion job and salt-run, some 40 ms a job and 100 ms a salt-run measured.
LOADER_DIRS := _modules _runners _states _beacons _utils _output _proxy _grains sim
bytecode: $(PY)
	$(PY) -m compileall -q $(LOADER_DIRS)

# make demo: the tutorial's story on a throwaway lab, VM hosts reached through salt-minions.
# make demo PROXY=1: the same story, each VM host a salt-proxy (proxytype vmhost) reaching its own
# sshd on 127.0.0.1 over real SSH, as HP-UX VM hosts are reached (docs/proxy.md); needs root.
demo: $(STAMP) bytecode
	$(PY) demo/run.py $(if $(filter-out 0 no false,$(PROXY)),--proxy)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: $(STAMP) bytecode
	$(PY) -m pytest -q tests/unit

functional: $(STAMP) bytecode
	$(PY) -m pytest -q tests/functional

integration: $(STAMP) bytecode
	$(PY) -m pytest -q tests/integration

# The unit and functional tiers on an older Salt: make test-3006, make test-3007.
$(OLD:%=test-%): test-%: .venv-%/.installed bytecode
	VPKG_HYPOTHESIS_EXAMPLES=15 .venv-$*/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/functional

test: $(STAMP) bytecode lint docs
	$(PY) -m pytest -q -p no:cacheprovider tests
	$(MAKE) $(OLD:%=test-%)

docs: $(STAMP)
	$(VENV)/bin/sphinx-build -q -W --keep-going -b html docs docs/_build/html

bench: $(STAMP) bytecode
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(OLD:%=.venv-%) .sources.list build sim/build dist *.egg-info sim/*.egg-info docs/_build .pytest_cache
