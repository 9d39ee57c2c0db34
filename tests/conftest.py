import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / 'configs'


def pytest_configure(config):
    # Two cores on the CI machine: more threads only add contention.
    torch.set_num_threads(int(os.environ.get('MMATTN_TEST_THREADS', '2')))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
