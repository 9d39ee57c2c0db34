import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmattn.compat import cpu_float16, missing

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / 'configs'


def run_fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (no registry or default scope carried over); its stdout."""
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def skip_unless(feature: str) -> None:
    """Skip the calling test, with mmattn's sentence as the reason, where the installed torch
    lacks ``feature`` (a name of :data:`mmattn.compat.FEATURES`)."""
    reason = missing(feature)
    if reason is not None:
        pytest.skip(reason)


def cpu_half_dtypes() -> tuple:
    """The half dtypes whose CPU kernels the installed torch has: bfloat16, and float16 where
    it exists (torch 2.1 has none; mmattn refuses such inputs, tested in test_contract.py)."""
    return (torch.float16, torch.bfloat16) if cpu_float16() else (torch.bfloat16, )


def pytest_configure(config):
    # Two cores on the CI machine: more threads only add contention.
    torch.set_num_threads(int(os.environ.get('MMATTN_TEST_THREADS', '2')))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
