# The local conventions of SPEC.md. Every target installs what it needs itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8000
STAGE  ?= dev

.PHONY: run test reset token tick bench lint infra package deploy

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt >&2
	@touch $@

run: $(STAMP)
	@PORT=$(PORT) $(PY) -m local run

test: $(STAMP)
	@$(PY) -m pytest

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
	@$(PY) -m infra.package --lint all

infra: $(STAMP)
	@$(PY) -m infra.generate

# build/<stage>/template.yaml + deployment.zip + layer-deployment.zip (see infra/package.py).
package: $(STAMP)
	@$(PY) -m infra.package $(STAGE)

# Needs AWS credentials for the stage's account and DEPLOY_BUCKET (an existing bucket in the stage's
# region for the artefacts); PARAMS="AlarmEmail=ops@example.cn OidcIssuer=..." overrides parameters.
deploy: package
	@$(PY) -m infra.deploy $(STAGE) $(PARAMS)
