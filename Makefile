# The two commands of the README, and the set-up they share. Everything the
# project needs is installed by these rules from PyPI and Maven Central.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-slow lint kafka-up kafka-down bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(BIN)/.installed

## make demo: local Kafka, a worker, simulated traffic and alerts as they fire (Ctrl-C stops)
demo: setup
	$(BIN)/salespulse demo

## make test: every test, against a real local Kafka that it starts
test: setup
	sh deploy/dev/install-system-deps.sh
	$(BIN)/mypy streamer schemas
	$(BIN)/salespulse kafka up
	$(BIN)/pytest

## make test-slow: the long runs the default test run leaves out (marked slow), e.g. the
## 200,000-event catch-up comparisons
test-slow: setup
	$(BIN)/salespulse kafka up
	$(BIN)/pytest -m slow

## make bench: the benchmark suite at full size (BENCH_ARGS=--quick: a smoke run). The
## Quix Streams peer comes from the 'bench' extra, installed into a virtualenv of its own,
## bench/.venv: quixstreams pins pydantic below the version the product's .venv has.
bench: setup
	@test bench/.venv/.installed -nt pyproject.toml || { \
		$(PYTHON) -m venv bench/.venv && \
		bench/.venv/bin/pip install --quiet --upgrade pip && \
		bench/.venv/bin/pip install --quiet -e '.[bench]' && \
		touch bench/.venv/.installed; }
	$(BIN)/salespulse kafka up
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: setup
	$(BIN)/ruff check streamer schemas tests bench
	$(BIN)/ruff format --check streamer schemas tests bench
	$(BIN)/mypy streamer schemas

kafka-up: setup
	$(BIN)/salespulse kafka up

kafka-down: setup
	$(BIN)/salespulse kafka down
