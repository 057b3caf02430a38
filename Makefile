# The commands the README names. uv is installed on first use; everything else comes from uv.lock.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
DAGSTER_HOME ?= $(CURDIR)/.adlake/dagster_home
HOST ?= 127.0.0.1
PORT ?= 3000

.PHONY: dev test tools install lint bench clean-local

## dev: install, write sample data, start the Amazon API emulators and the Dagster UI on
##      http://127.0.0.1:3000 (the emulators stop with it)
dev: install
	$(UV) run adlake init
	mkdir -p "$(DAGSTER_HOME)" && cp deploy/local/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"
	$(UV) run python -m adlake_tests.emulators & emulators=$$!; \
	trap 'kill $$emulators 2>/dev/null' EXIT; \
	DAGSTER_HOME="$(DAGSTER_HOME)" $(UV) run dagster dev -w workspace.yaml -h $(HOST) -p $(PORT)

## test: install what tests need and run the whole suite
test: install tools
	$(UV) run pytest

## tools: the programs the tests run besides Python: GnuPG (PGP files), npm (Azurite) and
##        Debian's Chromium (the browser check of the Dagster UI; Playwright never downloads one)
tools:
	@for tool in gpg:gnupg npm:npm chromium:chromium; do \
		command -v $${tool%%:*} >/dev/null 2>&1 && continue; \
		if command -v apt-get >/dev/null 2>&1; then \
			(apt-get update -qq && apt-get install -y -qq $${tool##*:}) || exit 1; \
		else echo "install $${tool##*:} (it provides $${tool%%:*}), then run make test again"; exit 1; fi; \
	done

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		python3 -m pip install --quiet --user uv==0.13.8 || \
		python3 -m pip install --quiet --user --break-system-packages uv==0.13.8
	$(UV) sync --locked

## lint: ruff format check and lint
lint: install
	$(UV) run ruff format --check adlake adlake_tests benchmarks examples
	$(UV) run ruff check adlake adlake_tests benchmarks examples

## bench: every benchmark of benchmarks/README.md (clean throughput, report pull, relational
##        extract/CDC, file pull, audience hashing, SaaS pull, publisher day, DuckDB vs Spark)
bench: install
	$(UV) run python benchmarks/clean_throughput.py
	$(UV) run python benchmarks/report_pull.py
	$(UV) run python benchmarks/rdbms_extract.py
	$(UV) run python benchmarks/file_pull.py
	$(UV) run python benchmarks/audience_hashing.py
	$(UV) run python benchmarks/saas_pull.py
	$(UV) run python benchmarks/publisher_day.py --events 2000000
	$(UV) run python benchmarks/engines.py

## clean-local: remove the local lake, catalog and Dagster instance
clean-local:
	rm -rf .adlake
