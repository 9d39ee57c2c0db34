import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / 'configs'


def run_fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (no registry or default scope carried over); its stdout."""
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def pytest_configure(config):
    # Two cores on the CI machine: more threads only add contention.
    torch.set_num_threads(int(os.environ.get('MMATTN_TEST_THREADS', '2')))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
