"""The supported torch range is stated once and true: setup.cfg, the README and the check
``import mmattn`` runs agree (mmattn/version.py holds it)."""
import configparser
import re

from mmattn.version import TORCH_MINIMUM, TORCH_TESTED
from tests.conftest import REPO_ROOT


def test_setup_cfg_requires_the_floor():
    cfg = configparser.ConfigParser()
    cfg.read(REPO_ROOT / 'setup.cfg')
    requires = [r.strip() for r in cfg['options']['install_requires'].splitlines() if r.strip()]
    torch_req = [r for r in requires if re.match(r'torch\b', r)]
    assert torch_req == [f'torch>={TORCH_MINIMUM}'], torch_req


def test_readme_states_the_range():
    text = (REPO_ROOT / 'README.md').read_text()
    assert f'torch {TORCH_MINIMUM} to {TORCH_TESTED[-1]}' in text, (
        f'README.md must say "torch {TORCH_MINIMUM} to {TORCH_TESTED[-1]}"')
    for version in TORCH_TESTED:
        assert version in text
