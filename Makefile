# verzuim-adapter: the two commands a newcomer runs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/setup.cfg)

# The clock tests: the parts of the suite that depend on the day, run again with the wall
# clock at 23:30 UTC in the autumn holiday (scripts/testclock.py; VERZUIM_TEST_NOW moves
# every test run to another instant).
CLOCK_AT ?= 2026-10-20T23:30:00Z
CLOCK_TESTS := tests/pki tests/domain tests/plugins tests/test_testing_kit.py \
	tests/e2e/test_flow.py tests/e2e/test_vendor_samples.py $(wildcard plugins/*/tests)
TESTCLOCK := $(PY) scripts/testclock.py

.PHONY: help venv services run test test-clock test-load clean

help:
	@echo "make run   - set everything up and run the demo (simulator + daemon + samples)"
	@echo "make test  - set everything up and run the whole test suite (and the clock tests)"
	@echo "make test-clock - the whole suite with the clock at CLOCK_AT (default $(CLOCK_AT))"
	@echo "make test-load  - the broker tests three times beside a CPU-bound process"
	@echo "make clean - remove the virtualenv and demo state"

$(VENV)/.installed: setup.cfg pyproject.toml $(PLUGINS)
	@echo "setup: creating the virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,postgres]' $(foreach p,$(PLUGINS),-e $(dir $(p)))
	@touch $@

# pip compiles no bytecode for an editable install, and where PYTHONDONTWRITEBYTECODE is
# set (this project's CI machines) Python never writes it: every start would compile the
# package's 140 modules again (0.1 s of the daemon's start). compileall only redoes what
# changed.
venv: $(VENV)/.installed
	@$(PY) -m compileall -q adapter $(dir $(PLUGINS))

services:
	@scripts/services.sh

run: venv services
	@$(PY) -m adapter --config config/demo.toml demo; status=$$?; scripts/stop-services.sh; exit $$status

# mypy --strict on the package and the plugins (setup.cfg [mypy] explains each exception).
TYPED := adapter $(filter-out %.egg-info/,$(foreach p,$(PLUGINS),$(wildcard $(dir $(p))verzuim_*/)))

test: venv services
	$(PY) -m mypy $(TYPED)
	$(TESTCLOCK) -- $(PY) -m pytest
	$(TESTCLOCK) --at $(CLOCK_AT) -- $(PY) -m pytest -q $(CLOCK_TESTS)

test-clock: venv services
	$(TESTCLOCK) --at $(CLOCK_AT) -- $(PY) -m pytest

test-load: venv services
	@$(PY) -c 'while True: pass' & burner=$$!; \
	$(PY) -m pytest -p no:randomly -m broker --count 3 -q; status=$$?; \
	kill $$burner; exit $$status

clean:
	rm -rf $(VENV) .demo *.egg-info
