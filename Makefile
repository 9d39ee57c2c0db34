# mmattn developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= pinned
STAMP := $(VENV)/.mmattn-setup-ok
export VENV TORCH

.PHONY: help setup test test-fast lint demo clean clean-venv

help:
	@echo "make setup       create $(VENV) and install the pinned stack + mmattn (idempotent)"
	@echo "                 TORCH=system: keep the torch of PYTHON (a GPU node's CUDA torch)"
	@echo "make test        set up if needed, then run the whole test suite"
	@echo "make test-fast   the suite without the integration (real detectors) and slow (inductor) tests"
	@echo "make lint        flake8 + isort check"
	@echo "make demo        toy data, train RetinaNet R-18 + SE on CPU (~5 min), COCO mAP before/after"
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
	$(PY) -m pytest tests -m "not integration and not slow"

lint: $(STAMP)
	@$(PY) -c "import flake8, isort" 2>/dev/null || $(PY) -m pip install -q flake8 isort
	$(PY) -m flake8 mmattn tests tools configs
	$(PY) -m isort --check-only --diff mmattn tests tools configs

# The README's main command: toy shapes -> RetinaNet R-18 with SE gates, 300 iterations
# on CPU, COCO mAP (pycocotools) of the initial and the trained weights side by side.
DEMO_CONFIG := configs/demo/retinanet_r18-se_fpn_300i_toy-coco.py
DEMO_WORK_DIR ?= work_dirs/demo

demo: $(STAMP)
	$(PY) tools/make_toy_data.py coco --out-dir data
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_WORK_DIR)
	@echo "Demo done: weights, logs and metrics in $(DEMO_WORK_DIR)/"

clean:
	rm -rf .pytest_cache build *.egg-info work_dirs
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +

clean-venv:
	rm -rf $(VENV)
