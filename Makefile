# 企呼我应 (qhwy). Two commands do everything on a fresh machine:
#   make run    set up, start Kafka + FerretDB, run all five services on http://127.0.0.1:8000 (Ctrl-C stops all)
#   make test   set up, then the whole test suite against the real broker and store
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: setup venv provision run test test-unit infra-up infra-down infra-status token clean-data

setup: venv provision

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

provision:
	deploy/infra.sh provision

run: setup
	deploy/run.sh

test: setup
	deploy/test.sh $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest tests/unit -q

infra-up: provision
	deploy/infra.sh up

infra-down:
	deploy/infra.sh down

infra-status:
	deploy/infra.sh status

# make token ROLE=unit_handler UNIT=fagai SUB=wang.wu
token: venv
	@$(VENV)/bin/qhwy-token --role $(ROLE) --sub $(or $(SUB),$(USER)) $(if $(UNIT),--unit $(UNIT))

clean-data: infra-down
	rm -rf var
