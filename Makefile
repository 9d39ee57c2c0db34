# mmattn developer commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
COMPAT_VENV ?= .venv-compat
PY := $(VENV)/bin/python
COMPAT_PY := $(COMPAT_VENV)/bin/python
TORCH ?= pinned
STAMP := $(VENV)/.mmattn-setup-ok
COMPAT_STAMP := $(COMPAT_VENV)/.mmattn-setup-ok
SETUP_INPUTS := setup.cfg setup.py tools/setup_env.sh tools/build_mmcv.py
# pytest's own options for every suite (e.g. PYTEST_ARGS='-x -k SE')
PYTEST_ARGS ?=
export VENV TORCH

.PHONY: help setup setup-compat test test-default test-compat test-cluster-path test-fast \
	lint demo clean clean-venv

help:
	@echo "make setup         create $(VENV) with the default stack (torch 2.14.1) + mmattn (idempotent)"
	@echo "                   TORCH=system: keep the torch of PYTHON (a GPU node's CUDA torch)"
	@echo "make setup-compat  create $(COMPAT_VENV) with the oldest supported stack (torch 2.1.2, numpy<2)"
	@echo "make test          set up both, then the whole suite on the default stack, every test"
	@echo "                   but the inductor ones on the oldest, and the GPU-cluster path B"
	@echo "make test-default  the whole suite on the default stack only"
	@echo "make test-compat   the suite on the oldest stack (no inductor tests)"
	@echo "make test-fast     the suite without the integration (real detectors) and slow (inductor) tests"
	@echo "make lint          flake8 + isort check"
	@echo "make demo          toy data, train RetinaNet R-18 + SE on CPU (~3 min), COCO mAP before/after"
	@echo "make clean         remove caches and work_dirs; clean-venv removes both venvs"

setup:
	@bash tools/setup_env.sh
	@touch $(STAMP)

# Set-up runs again only when what it installs from changes.
$(STAMP): $(SETUP_INPUTS)
	@bash tools/setup_env.sh
	@touch $(STAMP)

setup-compat:
	@VENV=$(COMPAT_VENV) TORCH=floor bash tools/setup_env.sh
	@touch $(COMPAT_STAMP)

$(COMPAT_STAMP): $(SETUP_INPUTS)
	@VENV=$(COMPAT_VENV) TORCH=floor bash tools/setup_env.sh
	@touch $(COMPAT_STAMP)

# The README's test command, which CI runs: both ends of the supported torch range.
test: test-default test-compat test-cluster-path

test-default: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-compat: $(COMPAT_STAMP)
	$(COMPAT_PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

# Path B of the GPU-cluster set-up (docs/get_started.md) on this machine: an interpreter that holds only
# torch at the floor, `make setup TORCH=system PYTHON=<it>`, then the demo and every module
# in a detector in the venv that made.
test-cluster-path: $(COMPAT_STAMP)
	@bash tools/check_cluster_path.sh

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not integration and not slow" $(PYTEST_ARGS)

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
	find . -path ./$(VENV) -prune -o -path ./$(COMPAT_VENV) -prune -o -name __pycache__ -type d -print -exec rm -rf {} +

clean-venv:
	rm -rf $(VENV) $(COMPAT_VENV) .venv-cluster-path*
