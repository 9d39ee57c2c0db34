# mmattn developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= pinned
STAMP := $(VENV)/.mmattn-setup-ok
export VENV TORCH

.PHONY: help setup test test-fast lint clean clean-venv

help:
	@echo "make setup       create $(VENV) and install the pinned stack + mmattn (idempotent)"
	@echo "                 TORCH=system: keep the torch of PYTHON (a GPU node's CUDA torch)"
	@echo "make test        set up if needed, then run the whole test suite"
	@echo "make test-fast   the suite without the integration tests (real detectors)"
	@echo "make lint        flake8 + isort check"
	@echo "make clean       remove caches and work_dirs; clean-venv removes $(VENV)"

setup:
	@bash tools/setup_env.sh
	@touch $(STAMP)

# Set-up runs again only when what it installs from changes.
$(STAMP): setup.cfg setup.py tools/setup_env.sh
	@bash tools/setup_env.sh
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not integration"

lint: $(STAMP)
	@$(PY) -c "import flake8, isort" 2>/dev/null || $(PY) -m pip install -q flake8 isort
	$(PY) -m flake8 mmattn tests tools configs
	$(PY) -m isort --check-only --diff mmattn tests tools configs

clean:
	rm -rf .pytest_cache build *.egg-info work_dirs
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +

clean-venv:
	rm -rf $(VENV)
