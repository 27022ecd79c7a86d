# stillwatch — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= dev,spark,postgres,redis
SERVE ?= 1
DEMO_DIR ?= ./stillwatch-demo
PYTEST_ARGS ?=

.PHONY: install demo test test-fast bench fairness lint typecheck rules clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip uv >/dev/null 2>&1 || true
	@if [ -x $(VENV)/bin/uv ]; then \
	  $(VENV)/bin/uv pip install --python $(PY) -q --compile-bytecode -e '.[$(EXTRAS)]'; \
	  $(VENV)/bin/uv cache prune -q >/dev/null 2>&1 || true; \
	else \
	  $(PY) -m pip install -q -e '.[$(EXTRAS)]'; \
	fi
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install stillwatch with its extras

demo: $(STAMP)  ## simulate a demo data set, run the pipeline, print a summary (SERVE=0 to skip the console)
	$(PY) -m stillwatch.demo --out $(DEMO_DIR) --serve $(SERVE)

test: $(STAMP)  ## start the services the tests need, then run the whole suite (DuckDB and Spark)
	@bash scripts/services.sh start > .services.env
	@set -a; . ./.services.env; set +a; $(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)  ## the suite without Spark, PostgreSQL, Redis, LiteLLM, browser and slow tests
	$(PY) -m pytest -m "not spark and not postgres and not redis and not litellm and not browser and not slow" $(PYTEST_ARGS)

bench: $(STAMP)  ## benchmarks; results go to docs/benchmarks.md by hand
	$(PY) benchmarks/run.py

FAIR_DIR ?= ./stillwatch-fair
fairness: $(STAMP)  ## fairness at scale (~2 M simulated exchanges, seed 11; not in test or bench); docs/evaluation.md
	$(PY) benchmarks/fairness_at_scale.py --dir $(FAIR_DIR) --no-jailbreak --cutoffs 7,1,3
	$(PY) benchmarks/fairness_at_scale.py --dir $(FAIR_DIR) --jailbreak --cutoffs 7,1,3

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .services.env .pytest_cache $(DEMO_DIR)
