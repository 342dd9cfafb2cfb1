# credsync — the two commands (`make demo`, `make test`) set up everything they
# need: a virtualenv, a Postgres (embedded when none is configured), Airflow.
# The repo root is on PYTHONPATH for the dev tooling (credsync_dev, sandbox), plugins/ for credsync.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR):$(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export NO_PROXY := *

.PHONY: demo test lint airflow celery-run sandbox sandbox-down bench venv clean

demo: $(VENV)/.installed  ## Run the whole pipeline end to end against the sandboxes
	$(PY) -m credsync_dev.localenv.demo

test: $(VENV)/.installed  ## Lint, then the whole test suite (fails when no test ran)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

airflow: $(VENV)/.installed  ## The Airflow UI on http://127.0.0.1:8080 with the DAGs and sandboxes
	$(PY) -m credsync_dev.localenv.standalone

celery-run: $(VENV)/.installed  ## The pipeline on CeleryExecutor (Redis, 2 workers), one worker killed mid-task
	$(PY) -m tests.distributed.scenario $(if $(LINGER),--linger)

sandbox: $(VENV)/.installed  ## Start the sandboxes in the background (make sandbox-down stops them)
	$(PY) -m sandbox up --data-dir build/sandbox

sandbox-down: $(VENV)/.installed
	$(PY) -m sandbox down --data-dir build/sandbox

bench: $(VENV)/.installed  ## Benchmarks; figures go to docs/benchmarks.md by hand
	$(PY) -m credsync_dev.bench

venv: $(VENV)/.installed

# requirements-dev.txt pulls in requirements.txt (runtime) and adds Airflow and the dev/test tools.
$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip check
	touch $@

clean:
	rm -rf build .pytest_cache .ruff_cache
