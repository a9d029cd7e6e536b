# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test venv migrate bootstrap serve clean

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

serve:
	$(VENV)/bin/daphne -b 127.0.0.1 -p $(PORT) gateway_project.asgi:application

## run: install, migrate, create demo data (printing the demo key once), serve on 127.0.0.1:$(PORT)
run: bootstrap serve

## test: the whole suite; uses PostgreSQL and Redis when they run here (starting them if installed)
test: venv
	@. scripts/test-env.sh && $(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 .pytest_cache
