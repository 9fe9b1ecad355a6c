# The local conventions of SPEC.md. Every target installs what it needs itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8000
STAGE  ?= dev

.PHONY: run test fuzz reset token tick bench lint infra package deploy

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt >&2
	@touch $@

run: $(STAMP)
	@PORT=$(PORT) $(PY) -m local run

test: $(STAMP)
	@$(PY) -m pytest

# The schemathesis and hypothesis runs of `make test`, ten times longer (about 10 minutes).
fuzz: $(STAMP)
	@FUZZ_CASES_PER_OPERATION=600 PROPERTY_EXAMPLES=5000 $(PY) -m pytest tests/test_fuzz.py tests/test_properties.py -s

reset:
	rm -rf .local

token: $(STAMP)
	@$(PY) -m local token "$(USER)"

tick: $(STAMP)
	@test -n "$(AT)" || { echo "usage: make tick AT=2024-05-20T10:00:00+08:00" >&2; exit 2; }
	@PORT=$(PORT) $(PY) -m local tick "$(AT)"

bench: $(STAMP)
	@$(PY) -m bench

lint: $(STAMP)
	@$(PY) -m ruff check . && $(PY) -m mypy app.py chalicelib local bench infra

infra: $(STAMP)
	@$(PY) -m infra.generate
