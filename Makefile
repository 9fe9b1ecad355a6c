# The local conventions of SPEC.md. Every target installs what it needs itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8000
STAGE  ?= dev

.PHONY: run test test-fast fuzz reset token tick bench lint infra package deploy browser-deps docs-images aggregates redrive vendor

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) >&2
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt >&2
	@touch $@

run: $(STAMP)
	@PORT=$(PORT) $(PY) -m local run

# One pytest-xdist worker per core; a module's tests stay on one worker (its stack and browser fixtures),
# the longest modules first (tests/conftest.py: LONGEST_FIRST, WORKED_ORG_MODULES).
test: $(STAMP) browser-deps
	@$(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder

# The inner loop: the unit and moto layers (pyproject.toml's markers), no local stack, browser or package.
FAST := (unit or moto) and not (stack or browser or package)
test-fast: $(STAMP)
	@$(PY) -m pytest -m "$(FAST)"

# The browser tests drive Debian's Chromium (Playwright cannot download its own browsers here) and
# need a CJK font, or Chinese renders as empty boxes; the form tests decode QR codes with zbarimg
# (zbar-tools). Installed once, as root, only when missing.
BROWSER_PKGS := chromium fonts-noto-cjk zbar-tools
browser-deps:
	@missing=$$(for p in $(BROWSER_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing $$missing" >&2; apt-get update -qq >&2 && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >&2; \
	  else echo "the browser tests need: sudo apt-get install -y $$missing" >&2; exit 1; fi; \
	fi

# Re-vendors Apache ECharts (the dashboard's charts) into web/vendor/ from npm at the pinned version.
vendor: $(STAMP)
	@$(PY) local/vendor.py

# Regenerates the user guide's screenshots (docs/images/) from the browser tests.
docs-images: $(STAMP) browser-deps
	@DOCS_IMAGES=docs/images $(PY) -m pytest tests/test_browser.py tests/test_browser_config.py -o addopts="" -q
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

# Recompute the dashboard counters from the leads of the running stack; FIX=1 repairs differences.
aggregates: $(STAMP)
	@PORT=$(PORT) $(PY) -m local rebuild-aggregates $(if $(FIX),--fix)

# What a deployed stage's functions gave up on (docs/operations.md): lists; GO=1 redrives; QUEUE=stream.
redrive: $(STAMP)
	@$(PY) -m infra.redrive $(STAGE) $(if $(GO),redrive,list) --queue $(or $(QUEUE),async)

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
