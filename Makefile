# Two commands set up a fresh machine: `make demo` (install + start the demo) and `make test` (install + tests).
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
APT_PACKAGES := wordnet-base wordnet-sense-index cmake build-essential chromium chromium-driver
# A portable llama.cpp build (the wheel pip caches works on any x86-64 CPU).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS ?= 1

.PHONY: install system-packages python-packages demo test test-fast bench bench-quick lint

install: system-packages python-packages

system-packages:
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	else echo "not root or no apt-get: install $(APT_PACKAGES) yourself"; fi

python-packages:
	$(PIP) install -q -r requirements.txt

demo: install
	$(PYTHON) demo.py

test: install
	$(PYTHON) -m pytest -q

test-fast:
	$(PYTHON) -m pytest -q -m "not slow and not browser"

bench: install
	$(PYTHON) -m bench

bench-quick: install
	$(PYTHON) -m bench --quick

lint:
	$(PYTHON) -m ruff check .
