# The README's two commands: `make demo` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install bytecode postgres chromium haproxy demo test lint typecheck unit bench eval clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) bytecode

# Compile opslayer's own modules, as a pip install (not editable) does: an editable install leaves
# that to the first import, which skips it under PYTHONDONTWRITEBYTECODE and then compiles every
# module from source on every start (a tenth of a second for `opslayer approvals list`). Only
# changed files are compiled again.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 agent governance tools knowledge evals >/dev/null

demo: install
	$(BIN)/opslayer demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# The store suites also run on a throwaway PostgreSQL server (skipped without one): install
# Debian's server when it is missing, best effort (it needs root and the Debian registry).
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || \
	  { echo "installing PostgreSQL (Debian package) for tests/pg"; \
	    { apt-get install -y -q postgresql || { apt-get update -q && apt-get install -y -q postgresql; }; } \
	      >/dev/null 2>&1 || echo "warning: could not install PostgreSQL; tests/pg will be skipped"; }

# The review page's browser tests drive Debian's chromium through Playwright (browsers cannot be
# downloaded here): install the package when it is missing. Without it those tests fail, naming it.
chromium:
	@command -v chromium >/dev/null || \
	  { echo "installing Chromium (Debian package) for tests/web"; \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || \
	      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; } \
	      >/dev/null 2>&1 || echo "warning: could not install chromium; tests/web will fail"; }

# deploy/haproxy.cfg (the proxy in front of several API processes) runs in tests/deploy and in the
# service bench: install Debian's haproxy when it is missing. Without it those fail, naming it.
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || \
	  { echo "installing HAProxy (Debian package) for tests/deploy and the service bench"; \
	    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy || \
	      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy; }; } \
	      >/dev/null 2>&1 || echo "warning: could not install haproxy; tests/deploy/test_proxy.py will fail"; }

unit: install postgres chromium haproxy
	$(BIN)/pytest

test: lint typecheck unit

bench: install haproxy
	@$(BIN)/python -m evals.bench

# The whole scenario suite with the offline planner and the adversarial model, then the HTML report
# (.opslayer/evals/latest/report.html). Fails if any write reached the systems without authority.
EVAL_OUT ?= .opslayer/evals/latest
eval: install
	rm -rf $(EVAL_OUT)
	$(BIN)/opslayer eval --planner offline --planner adversarial --out $(EVAL_OUT)

clean:
	rm -rf $(VENV) .opslayer .mypy_cache .ruff_cache .pytest_cache
	find agent governance tools knowledge evals tests -name __pycache__ -type d -prune -exec rm -rf {} +
