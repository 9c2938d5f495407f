# Two commands on a fresh machine: `make run` and `make test` (each sets up the venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint format bench bench-paired bench-patrol bench-scale clean browser-deps

setup: $(STAMP)

# constraints.txt pins the versions the tests last passed with (regenerate: pip freeze > constraints.txt)
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: setup
	$(BIN)/policetwin run --out runs/coquimbo

# the dashboard's browser tests drive headless Chromium (Debian packages; CJK font for the screenshots);
# installed here when chromedriver is missing (with sudo unless root). Without them those tests skip.
browser-deps:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei \
	  || echo "warning: could not install chromium/chromium-driver: the browser tests will be skipped"; }

test: setup browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python benchmarks/bench_core.py

# medians of paired runs against an earlier commit: make bench-paired BASE=<commit> [PAIRS=5]
bench-paired: setup
	$(BIN)/python benchmarks/paired.py --base $(BASE) --pairs $(or $(PAIRS),5) --policy nearest --policy beat_first --policy priority_preempt

# the patrol year against the same year at stations (same code), medians of paired runs: make bench-patrol [PAIRS=5]
bench-patrol: setup
	$(BIN)/python benchmarks/paired.py --base HEAD --pairs $(or $(PAIRS),5) --idle random_beat

# scaling over nodes (10k -> 300k), units and calls/day, one process per point: make bench-scale [HOURS=24] [GRID=reduced]
bench-scale: setup
	$(BIN)/python benchmarks/bench_scale.py --hours $(or $(HOURS),24) --grid $(or $(GRID),default)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
