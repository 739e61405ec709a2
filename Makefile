# verzuim-adapter: the two commands a newcomer runs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/setup.cfg)

.PHONY: help venv services run test clean

help:
	@echo "make run   - set everything up and run the demo (simulator + daemon + samples)"
	@echo "make test  - set everything up and run the whole test suite"
	@echo "make clean - remove the virtualenv and demo state"

$(VENV)/.installed: setup.cfg pyproject.toml $(PLUGINS)
	@echo "setup: creating the virtualenv in $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,postgres]' $(foreach p,$(PLUGINS),-e $(dir $(p)))
	@touch $@

venv: $(VENV)/.installed

services:
	@scripts/services.sh

run: venv services
	@$(PY) -m adapter --config config/demo.toml demo; status=$$?; scripts/stop-services.sh; exit $$status

test: venv services
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .demo *.egg-info
