# tradeops: the commands people type.  `make help` lists them.
# Every target creates the virtualenv and installs the pinned stack first
# (nothing to do by hand on a fresh clone).

PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
TRADEOPS := $(VENV)/bin/tradeops
STAMP  := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_SESSIONS ?= 15

.DEFAULT_GOAL := help
.PHONY: help venv lint demo test test-clock run lab bench dashboard schedule cron clean-demo

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@# the package's bytecode, as pip writes it for the installed libraries (an editable install gets none):
	@# where PYTHONDONTWRITEBYTECODE is set, every kernel would compile ~40 modules from source as it starts
	$(PY) -m compileall -q tradeops
	touch $(STAMP)

venv: $(STAMP) ## create .venv and install the pinned stack

lint: $(STAMP) ## ruff (pyflakes, pycodestyle errors, and the formatter's check) on the package and tests; mypy on the pure core
	$(VENV)/bin/ruff check tradeops tests
	$(VENV)/bin/ruff format --check tradeops tests
	$(VENV)/bin/mypy

demo: $(STAMP) ## run the main job end to end offline (demo data, SQLite) in ./demo
	$(TRADEOPS) demo --workdir $(DEMO_DIR) --sessions $(DEMO_SESSIONS)

test: $(STAMP) ## run the test suite (SQLite and PostgreSQL)
	$(PY) -m pytest -q

# The wall-clock guard: the folders where "now" matters, with the machine's clock
# moved to early morning, mid-afternoon and 23:30 UK (winter and summer time).
# A test that reads the real clock instead of a pinned one fails here at once.
# The moved clock reaches only the test process: the end-to-end tests (marked slow)
# do their work in kernels, Voila and the browser, which keep the real clock, so
# they run once, at the late-evening instant (the hour a wall-clock read broke the
# suite), and the in-process tests run at all three.  tests/test_clock.py checks
# that no package code reads the wall clock at all.
FAKE_NOWS ?= 2026-12-01T06:00:00+00:00 2026-07-15T15:00:00+01:00 2026-12-01T23:30:00+00:00
SLOW_FAKE_NOW ?= 2026-12-01T23:30:00+00:00
CLOCK_TESTS ?= tests/dashboard tests/ledger tests/pipeline tests/test_clock.py
test-clock: $(STAMP) ## the dashboard, ledger and pipeline tests at three fixed times of day
	@failed=""; for now in $(FAKE_NOWS); do \
	  echo "== in-process tests under a wall clock of $$now"; \
	  $(PY) -m pytest -q -p no:cacheprovider -m "not slow" --fake-now $$now $(CLOCK_TESTS) || failed="$$failed $$now"; \
	done; \
	echo "== end-to-end (slow) tests under a wall clock of $(SLOW_FAKE_NOW)"; \
	$(PY) -m pytest -q -p no:cacheprovider -m slow --fake-now $(SLOW_FAKE_NOW) $(CLOCK_TESTS) || failed="$$failed $(SLOW_FAKE_NOW)(slow)"; \
	if [ -n "$$failed" ]; then echo "test-clock: FAILED at$$failed"; exit 1; fi

run: $(STAMP) ## the scheduled daily run in the current workspace
	$(TRADEOPS) run daily --workdir .

lab: $(STAMP) ## JupyterLab for research
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: $(STAMP) ## benchmarks; figures go to BENCHMARKS.md (installs the bench extra: vectorbt)
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev,bench]'
	$(PY) -m tradeops.bench

dashboard: $(STAMP) ## the executor's confirmation page (Voila, 127.0.0.1:8866)
	$(TRADEOPS) dashboard --workdir .

schedule: $(STAMP) ## show the 07:30 UK schedule (INSTALL=1 installs it, REMOVE=1 removes it; WITH=systemd for a timer)
	$(TRADEOPS) schedule $(if $(INSTALL),install,$(if $(REMOVE),remove,show)) --workdir . --with $(or $(WITH),cron)

cron: schedule ## alias of `make schedule` (cron entries)

clean-demo: ## remove the demo workspace
	rm -rf $(DEMO_DIR)
