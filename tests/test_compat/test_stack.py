"""mmattn.compat.stack: an unsupported torch, a numpy torch cannot use or an mmcv compiled for
another torch is one sentence naming the versions and the fix."""
import pytest
import torch

from mmattn.compat import check_numpy, check_stack, check_torch, mmcv_ops_error, release
from mmattn.version import TORCH_MINIMUM, TORCH_TESTED


def test_release_reads_local_versions():
    assert release('2.14.1+cu130') == (2, 14, 1)
    assert release('2.1.2') == (2, 1, 2)
    assert release('2.6.0a0+git1234') == (2, 6, 0)
    with pytest.raises(ValueError, match='cannot read the version'):
        release('nightly')


@pytest.mark.parametrize('version', ['1.13.1', '2.0.1+cu117'])
def test_an_older_torch_is_refused_with_both_versions_and_the_fix(version):
    with pytest.raises(ImportError) as info:
        check_torch(version)
    text = str(info.value)
    assert f'mmattn supports torch >= {TORCH_MINIMUM}' in text
    assert f'the installed torch is {version}' in text
    assert f'pip install torch=={TORCH_TESTED[0]}' in text


@pytest.mark.parametrize('version', [TORCH_MINIMUM, *TORCH_TESTED, '2.20.0'])
def test_supported_and_newer_torch_pass(version):
    check_torch(version)


def test_the_installed_stack_passes():
    check_stack()


def test_a_numpy_torch_cannot_use_is_refused(monkeypatch):
    # What torch 2.1 beside numpy 2 does: from_numpy raises "Numpy is not available".
    def unavailable(array):
        raise RuntimeError('Numpy is not available')

    monkeypatch.setattr(torch, 'from_numpy', unavailable)
    with pytest.raises(ImportError, match=r"cannot use the installed numpy .*numpy<2"):
        check_numpy()


def test_mmcv_compiled_for_another_torch_is_named():
    error = ImportError('/site-packages/mmcv/_ext.cpython-311-x86_64-linux-gnu.so: undefined '
                        'symbol: _ZN3c1017RegisterOperatorsD1Ev')
    sentence = mmcv_ops_error(error)
    assert isinstance(sentence, ImportError)
    text = str(sentence)
    assert f'installed torch {torch.__version__}' in text
    assert 'compiled against another torch' in text and 'make setup' in text
    assert mmcv_ops_error(ImportError('No module named mmcv._ext')) is None


def test_importing_mmattn_with_an_old_torch_fails_with_the_sentence():
    from tests.conftest import run_fresh_python
    code = ('import torch\n'
            "torch.__version__ = '2.0.1'\n"
            'try:\n'
            '    import mmattn\n'
            'except ImportError as e:\n'
            '    print(e)\n')
    out = run_fresh_python(code)
    assert 'mmattn supports torch >=' in out and 'the installed torch is 2.0.1' in out
