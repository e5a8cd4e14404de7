# The README's commands. `make run` and `make test` work from a fresh clone
# with only python3 and make installed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install run serve test lint e2e bench crash messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py serve

test: install
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

e2e: install
	$(BIN)/python -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m benchmarks.run

# kill -9 under a bounded booking and gift load, then prove nothing acknowledged is lost
# (needs DATABASE_URL pointing at PostgreSQL).
crash: install
	$(BIN)/python -m benchmarks.crash

messages: install
	cd timebank && ../$(BIN)/django-admin makemessages -l en --ignore '*/migrations/*'
	$(BIN)/django-admin compilemessages

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
