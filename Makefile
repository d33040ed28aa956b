# The README's two commands: `make demo` and `make test`. Both set up .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install postgres demo test lint typecheck unit bench eval clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

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

unit: install postgres
	$(BIN)/pytest

test: lint typecheck unit

bench: install
	@$(BIN)/python -m evals.bench

# The whole scenario suite with the offline planner and the adversarial model, then the HTML report
# (.opslayer/evals/latest/report.html). Fails if any write reached the systems without authority.
EVAL_OUT ?= .opslayer/evals/latest
eval: install
	rm -rf $(EVAL_OUT)
	$(BIN)/opslayer eval --planner offline --planner adversarial --out $(EVAL_OUT)

clean:
	rm -rf $(VENV) .opslayer .mypy_cache .ruff_cache .pytest_cache
