# The two commands: `make run` and `make test`. Everything else is a step they share.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
EMULATOR_PORT ?= 8800
# The make targets are the development path: debug on, unless the caller says otherwise.
DEBUG ?= 1
ZT_PARTNER_ID ?= 1000001
# honcho gives every process its own $PORT, so the web port travels under another name.
WEB_PORT := $(PORT)
export PORT WEB_PORT EMULATOR_PORT DEBUG ZT_PARTNER_ID
EMULATOR_STATE := var/emulator.sqlite3

# A Python 3.12+ interpreter: python3.13/python3.12 on PATH (pyenv shims honour .python-version),
# else the newest 3.12+/3.13 that pyenv has installed.
PYTHON ?= $(shell for c in python3.13 python3.12; do \
	  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then command -v $$c; exit; fi; \
	done; \
	for d in $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.1[3-9]* $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12* 2>/dev/null | sort -rV); do \
	  if [ -x $$d/bin/python3 ]; then echo $$d/bin/python3; exit; fi; \
	done)

.PHONY: run test venv migrate demo lint e2e clean bench-cache bench-sync bench-batch bench-quota bench-customers bench-reports bench-chaos bench-recovery bench-move bench-load bench-hostile bench-export bench-throughput

$(VENV)/.installed: pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "No Python 3.12+ found: install python3.13 (or python3.12) and retry." >&2; exit 1; fi
	@[ -x $(PY) ] || { echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --no-input

demo: migrate $(EMULATOR_STATE)
	PORTAL_DEV_TOOLS=1 $(PY) manage.py demo_setup --emulator-state $(EMULATOR_STATE)

# The emulator's demo state: customers, vendors and their customers, 20,000 devices. Made once.
$(EMULATOR_STATE): | venv
	$(PY) -m emulator seed --state $@ --partner-id $(ZT_PARTNER_ID) \
		--customers 25 --vendors 3 --devices 20000 --random-seed 1

run: demo
	@echo ""
	@echo "  Portal:  http://127.0.0.1:$(PORT)/"
	@echo "  Emulator of the zero-touch API: http://127.0.0.1:$(EMULATOR_PORT)/ (partner $(ZT_PARTNER_ID))"
	@echo "  Sign in as sales, manager or admin; password: demo"
	@echo "  Ctrl-C stops every process."
	@echo ""
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho -f Procfile start

# The layers first (pyproject.toml's [tool.importlinter]): a wrong import fails in seconds.
test: venv
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest $(PYTEST_ARGS)

e2e: venv
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/ .pytest_cache

# The benchmarks run production settings (DEBUG off) with the development tools (bench/) installed.
BENCH_ENV := DEBUG=0 SECRET_KEY=benchmark-only PORTAL_DEV_TOOLS=1

# Search benchmarks at 1,000,000 devices, on a scratch SQLite file and a scratch PostgreSQL database.
BENCH_DEVICES ?= 1000000
bench-cache: venv
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-cache.sqlite3 $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-cache.sqlite3 \
		$(PY) manage.py zt_bench cache --devices $(BENCH_DEVICES)
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench \
		$(PY) manage.py zt_bench cache --devices $(BENCH_DEVICES)

# Sync ingest from a zero-latency emulator, then 20,000 devices under 20% injected server errors.
bench-sync: venv
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-sync.sqlite3 $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-sync.sqlite3 \
		$(PY) manage.py zt_bench sync --devices 200000 --runs 3 --resync
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-sync.sqlite3 \
		$(PY) manage.py zt_bench sync --devices 20000 --error-rate 0.2
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench_sync'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench_sync"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_sync $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_sync \
		$(PY) manage.py zt_bench sync --devices 200000 --runs 3 --resync
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_sync \
		$(PY) manage.py zt_bench sync --devices 20000 --error-rate 0.2

# Batches on the cache bench-cache built (1,000,000 devices): pre-flight of 100,000 rows, submission
# overhead, a 10,000-device job end to end and the worker's memory through a 100,000-device job.
bench-batch: venv
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench \
		$(PY) manage.py zt_bench cache --devices $(BENCH_DEVICES) --repeat 20
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench \
		$(PY) manage.py zt_bench batch --rows 100000
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-cache.sqlite3 $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-cache.sqlite3 \
		$(PY) manage.py zt_bench cache --devices $(BENCH_DEVICES) --repeat 20
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-cache.sqlite3 \
		$(PY) manage.py zt_bench batch --rows 100000

# The devices CSV export of the whole 1,000,000-device cache (bench-cache builds it), a customer and a
# search, through the view: rows a second and the process's memory; fails below 50,000 rows/s or at 150 MB.
bench-export: venv
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench \
		$(PY) manage.py zt_bench cache --devices $(BENCH_DEVICES) --repeat 20
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench $(PY) manage.py zt_bench export

# The sync, a batch and a person sharing a scaled-down quota (240 requests a minute) through a real
# worker and beat: SQLite with the file limiter, then PostgreSQL with Redis.
bench-quota: venv
	rm -f var/bench-quota.sqlite3
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-quota.sqlite3 $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-quota.sqlite3 \
		$(PY) manage.py zt_bench quota --devices 32000 --per-minute 240 --soft-limit 20
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench_quota'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench_quota"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_quota $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_quota \
		CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \
		$(PY) manage.py zt_bench quota --devices 32000 --per-minute 240 --soft-limit 20

# The customers page at 10,000 customers (server time through Django's whole request path).
bench-customers: venv
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-customers.sqlite3 $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-customers.sqlite3 \
		$(PY) manage.py zt_bench customers --customers 10000
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench_customers'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench_customers"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_customers $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_customers \
		$(PY) manage.py zt_bench customers --customers 10000

# Every report section at 1,000,000 devices and 3,000,000 history events (built once per database,
# reused by later runs), on a scratch SQLite file and a scratch PostgreSQL database.
bench-reports: venv
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-reports.sqlite3 $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=sqlite:///var/bench-reports.sqlite3 \
		$(PY) manage.py reports_bench --devices $(BENCH_DEVICES) --events 3000000
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench_reports'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench_reports"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_reports $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_reports \
		$(PY) manage.py reports_bench --devices $(BENCH_DEVICES) --events 3000000

# $(call fresh_database,NAME): drop and create the scratch PostgreSQL database NAME, then migrate it.
fresh_database = psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $(1)" -c "CREATE DATABASE $(1)" \
	&& $(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(1) $(PY) manage.py migrate -v0

# The chaos run on PostgreSQL + a private Redis: a 10,000-device batch claim and a sync through 10 worker
# kills, 20% server errors, dropped answers, a tight quota, a 30 s outage and restarts of Redis and
# the web process; exits non-zero if an invariant fails. A fresh scratch database every time.
CHAOS_SEED ?= 1
bench-chaos: venv
	$(call fresh_database,zt_chaos)
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_chaos \
		$(PY) manage.py zt_bench chaos --devices 10000 --seed $(CHAOS_SEED)

# Recovery at Google's quota and the product's batch timings: a 5,000-device claim for a new customer,
# once without faults, once through 10% 503s, 2% lost answers and three worker kills (the first as the
# first claim reaches the API); prints both times and what settling lost answers cost, and exits
# non-zero when a target is missed or an invariant fails. A fresh scratch database every time.
RECOVERY_SEED ?= 1
bench-recovery: venv
	$(call fresh_database,zt_recovery)
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_recovery \
		$(PY) manage.py zt_bench recovery --devices 5000 --seed $(RECOVERY_SEED)

# A move of one order's 1,000 devices from customer A to customer B, with 5% of API calls answered 503,
# against the claim of those devices under the same 503s (production timings, Google's quota, Redis and
# a Celery worker): prints both times, the ratio and the checks (all with B, none unclaimed, none sent
# twice), and exits non-zero when the move takes over twice the claim or a check fails.
MOVE_SEED ?= 1
bench-move: venv
	$(call fresh_database,zt_move)
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_move \
		$(PY) manage.py zt_bench move --devices 1000 --error-rate 0.05 --seed $(MOVE_SEED)

# 50 staff at the pages for 120 s while a 10,000-device batch claim runs: gunicorn, PostgreSQL (its own
# database, which zt_bench cache fills with 1,000,000 devices the first time), Redis and a Celery worker. Exits non-zero when
# p95 > 300 ms or any request failed. LOAD_ARGS="--duration 60 --users 20" changes the run.
bench-load: venv
	psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'zt_bench_load'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE zt_bench_load"
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_load $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_load \
		$(PY) manage.py zt_bench cache --devices $(BENCH_DEVICES) --repeat 20
	$(BENCH_ENV) DATABASE_URL=postgres://postgres@127.0.0.1:5432/zt_bench_load \
		CELERY_BROKER_URL=redis://127.0.0.1:6379/13 $(PY) manage.py zt_bench load $(LOAD_ARGS)

# Hostile batch uploads through the whole request path on the production settings: a row of 32,001
# cells, a body over ZT_BATCH_MAX_BYTES, millions of blank lines; prints each one's status, time and
# memory, and exits non-zero when one is not a 400 within 2 s and 100 MB.
bench-hostile: venv
	rm -f var/bench-hostile.sqlite3
	$(BENCH_ENV) SECURE_SSL_REDIRECT=0 DATABASE_URL=sqlite:///var/bench-hostile.sqlite3 $(PY) manage.py migrate -v0
	$(BENCH_ENV) SECURE_SSL_REDIRECT=0 DATABASE_URL=sqlite:///var/bench-hostile.sqlite3 $(PY) manage.py collectstatic --no-input -v0
	$(BENCH_ENV) SECURE_SSL_REDIRECT=0 ALLOWED_HOSTS=testserver DATABASE_URL=sqlite:///var/bench-hostile.sqlite3 \
		$(PY) manage.py zt_bench hostile

# Device-search pages a second on gunicorn as production starts it (the Dockerfile's CMD, DEBUG=0): 10
# clients signed in through the sign-in form loop over 16 search cases for 20 s after a 3 s warm-up,
# every answer checked; p50/p95 per case, CPU per page of gunicorn, PostgreSQL and the load generator,
# then each worker's first request over 5 fresh starts. On the devices already in DATABASE_URL's
# database (default zt_bench, 1,000,000 from bench-cache), else it builds 1,000,000 there;
# THROUGHPUT_ARGS="--clients 20 --duration 60" changes the run, "--devices 10000000" builds ten million
# into an empty database. Exits non-zero when an answer was wrong (the targets are printed).
bench-throughput: DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/zt_bench
bench-throughput: venv
	case "$(DATABASE_URL)" in postgres://postgres@127.0.0.1:5432/*) \
		psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = '$(notdir $(DATABASE_URL))'" | grep -q 1 \
		|| psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE $(notdir $(DATABASE_URL))";; esac
	$(BENCH_ENV) DATABASE_URL=$(DATABASE_URL) $(PY) manage.py migrate -v0
	$(BENCH_ENV) DATABASE_URL=$(DATABASE_URL) $(PY) manage.py zt_bench throughput $(THROUGHPUT_ARGS)
