# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test venv migrate bootstrap serve clean fleet

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

bootstrap: migrate
	$(PY) manage.py bootstrap

# The server refuses to start without DJANGO_SECRET_KEY (unless DJANGO_DEBUG=1): for the demo,
# the one `bootstrap` generated and keeps in .demo-credentials.
serve:
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(sed -n 's/^DJANGO_SECRET_KEY=//p' .demo-credentials 2>/dev/null)}" \
		PYTHONMALLOC=malloc $(PY) -m gateway_project.serve -b 127.0.0.1 -p $(PORT) gateway_project.asgi:application

## run: install, migrate, create demo data (printing the demo key once), serve on 127.0.0.1:$(PORT)
run: bootstrap serve

## test: the import layers (.importlinter), then the whole suite; uses PostgreSQL and Redis when they run here (starting them if installed)
test: venv
	$(VENV)/bin/lint-imports --no-cache
	@. scripts/test-env.sh && $(PY) -m pytest $(PYTEST_ARGS)

## fleet: three replicas under the production command behind Debian's HAProxy on 127.0.0.1:$(FLEET_PORT), sharing
## PostgreSQL and Redis (README, "Replicas behind a load balancer"); in the foreground until Ctrl-C
FLEET_PORT ?= 8080
fleet: venv
	@command -v haproxy >/dev/null || { echo "make fleet needs HAProxy: apt-get install -y haproxy"; exit 2; }
	@. scripts/test-env.sh >/dev/null && $(PY) -m scripts.fleet --port $(FLEET_PORT)

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache .fleet

# Benchmark (bench/README.md): not part of `make test`; timings never go into the tests.
.PHONY: bench bench-quick
BENCH_ARGS ?=

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

## bench: direct upstream vs the gateway with everything on; the issue's targets beside the measured values
## (BENCH_SOAK=1 adds 100,000 requests with RSS over time; BENCH_ARGS="--compare" compares ASGI servers)
bench: $(VENV)/.bench-installed
	@command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install -y wrk"; exit 2; }
	@. scripts/test-env.sh >/dev/null && $(PY) -m bench.run $(if $(filter 1,$(BENCH_SOAK)),--soak) $(BENCH_ARGS)

## bench-quick: CPU per request in under a minute, beside the figure recorded in bench/README.md
bench-quick: $(VENV)/.bench-installed
	@command -v wrk >/dev/null || { echo "bench needs wrk: apt-get install -y wrk"; exit 2; }
	@. scripts/test-env.sh >/dev/null && $(PY) -m bench.run --quick $(BENCH_ARGS)

## bench-ledger: /v1/usage and the admin report over 10 million ledger rows, and the ledger writer's rows/s
## (its own database bench_ledger, filled once by generate_usage; BENCH_ARGS="--fresh" refills it)
.PHONY: bench-ledger
bench-ledger: $(VENV)/.installed
	@. scripts/test-env.sh >/dev/null && $(PY) -m bench.ledger $(BENCH_ARGS)
