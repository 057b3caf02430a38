# The commands the README names. uv is installed on first use; everything else comes from uv.lock.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
DAGSTER_HOME ?= $(CURDIR)/.adlake/dagster_home
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: dev test install lint bench clean-local

## dev: install, write sample data, start the Amazon API emulators and the Dagster UI on
##      http://127.0.0.1:3000 (the emulators stop with it)
dev: install
	$(UV) run adlake init
	mkdir -p "$(DAGSTER_HOME)" && cp deploy/local/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(UV) run python -m adlake_tests.emulators & emulators=$$!; \
	trap 'kill $$emulators 2>/dev/null' EXIT; \
	DAGSTER_HOME="$(DAGSTER_HOME)" $(UV) run dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

## test: install what tests need and run the whole suite
test: install
	$(UV) run pytest

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet --user uv==0.13.8 || \
		python3 -m pip install --quiet --user --break-system-packages uv==0.13.8
	$(UV) sync --locked

## lint: ruff format check and lint
lint: install
	$(UV) run ruff format --check adlake adlake_tests benchmarks
	$(UV) run ruff check adlake adlake_tests benchmarks

## bench: the clean-throughput benchmark (5M rows by default), the report-pull benchmark and
##        the relational extract/CDC benchmark
bench: install
	$(UV) run python benchmarks/clean_throughput.py
	$(UV) run python benchmarks/report_pull.py
	$(UV) run python benchmarks/rdbms_extract.py
	$(UV) run python benchmarks/file_pull.py

## clean-local: remove the local lake, catalog and Dagster instance
clean-local:
	rm -rf .adlake
