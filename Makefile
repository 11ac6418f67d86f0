# Two entry points for a fresh machine with Python 3.11+ and the package registries:
#   make run   - install into .venv and start the main job
#   make test  - install into .venv and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

VENDOR := src/pressbox/web/vendor

.PHONY: run test check lint install clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The dashboard's chart library comes from the npm registry, pinned in package-lock.json.
$(VENDOR)/uPlot.esm.js: package.json package-lock.json
	npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css \
		node_modules/uplot/LICENSE $(VENDOR)/

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
		else echo "make: chromium is missing: the browser tests will skip (apt-get install chromium)"; fi; }

install: $(STAMP) $(VENDOR)/uPlot.esm.js

run: $(STAMP) $(VENDOR)/uPlot.esm.js
	$(BIN)/pressbox serve --demo

test: $(STAMP) $(VENDOR)/uPlot.esm.js browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
