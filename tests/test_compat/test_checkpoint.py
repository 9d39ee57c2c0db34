"""mmattn.compat.checkpoint: mmengine checkpoints load under weights_only; nothing else does."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmattn.compat import apply_compat, checkpoint_safe_globals
from tests.conftest import skip_unless


class _Unknown:
    """A class no allow-list names."""

    def __init__(self, value=1):
        self.value = value


class _CallsPrint:

    def __reduce__(self):
        return (print, ('code ran while loading',))


class _GetattrEscape:
    """Uses getattr to reach something other than a HistoryBuffer statistic."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


def _mmengine_like_checkpoint(path):
    hub = MessageHub.get_instance('mmattn_test_compat')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float32(1.25))
    hub.update_info('iter', 7)
    ckpt = dict(
        meta=dict(iter=7, epoch=0, seed=0, cfg="model = dict(type='X')\n",
                  dataset_meta=dict(classes=('a', 'b'), palette=[(1, 2, 3)]),
                  np_scalar=np.float64(0.5), np_int=np.int64(3), np_array=np.arange(4),
                  dtypes=[np.dtype('float32'), np.dtype('int64'), np.dtype('uint8')]),
        state_dict=dict(w=torch.randn(3, 3)),
        message_hub=hub.state_dict(),
        optimizer=dict(state={0: dict(momentum_buffer=torch.ones(3))},
                       param_groups=[dict(lr=0.01, params=[0])]))
    torch.save(ckpt, path)
    return ckpt


def test_torch_refuses_mmengine_checkpoint_without_the_shim(tmp_path):
    skip_unless('weights_only by default')
    # The reason for the shim (a fresh interpreter: the allow-list is process-wide).
    from tests.conftest import run_fresh_python
    path = tmp_path / 'ckpt.pth'
    _mmengine_like_checkpoint(path)
    code = (
        'import pickle, torch\n'
        'try:\n'
        f'    torch.load({str(path)!r})\n'
        '    print("loaded")\n'
        'except pickle.UnpicklingError:\n'
        '    print("refused")\n')
    assert run_fresh_python(code).strip() == 'refused'


def test_importing_mmattn_is_enough_to_resume(tmp_path):
    skip_unless('add_safe_globals')
    # mmdet's own tools/train.py imports mmattn through the config's custom_imports.
    from tests.conftest import run_fresh_python
    path = tmp_path / 'ckpt.pth'
    _mmengine_like_checkpoint(path)
    code = ('import torch, mmattn\n'
            f'ckpt = torch.load({str(path)!r}, weights_only=True)\n'
            'print(sorted(ckpt))\n')
    assert 'message_hub' in run_fresh_python(code)


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    skip_unless('add_safe_globals')
    apply_compat()
    apply_compat()  # idempotent
    path = tmp_path / 'ckpt.pth'
    saved = _mmengine_like_checkpoint(path)
    loaded = torch.load(path, map_location='cpu', weights_only=True)
    assert loaded['meta']['iter'] == 7
    assert loaded['meta']['np_scalar'] == 0.5 and loaded['meta']['np_int'] == 3
    np.testing.assert_array_equal(loaded['meta']['np_array'], np.arange(4))
    assert loaded['meta']['dtypes'] == saved['meta']['dtypes']
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(1.375)
    assert buffer.statistics('current') == pytest.approx(1.25)
    assert torch.equal(loaded['state_dict']['w'], saved['state_dict']['w'])
    # And mmengine's own loader (what Runner.resume calls) accepts it.
    from mmengine.runner.checkpoint import _load_checkpoint
    assert _load_checkpoint(str(path), map_location='cpu')['meta']['iter'] == 7


@pytest.mark.parametrize('payload', [_Unknown(), _CallsPrint(), _GetattrEscape()],
                         ids=['unknown-class', 'reduce-to-print', 'getattr-escape'])
def test_arbitrary_objects_are_still_refused(tmp_path, payload, capsys):
    skip_unless('weights_only by default')  # an older torch loads anything by default
    apply_compat()
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict=dict(w=torch.zeros(1)), extra=payload), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, map_location='cpu')
    from mmengine.runner.checkpoint import _load_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location='cpu')
    assert 'code ran' not in capsys.readouterr().out


def test_safe_globals_are_exactly_the_checkpoint_contents():
    names = set()
    for entry in checkpoint_safe_globals():
        if isinstance(entry, tuple):
            names.add(entry[1])
        else:
            names.add(f'{entry.__module__}.{entry.__qualname__}')
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in names
    assert 'builtins.getattr' in names  # the restricted stand-in, not getattr itself
    assert getattr not in checkpoint_safe_globals()
    assert all(n.startswith(('numpy', 'mmengine.', 'builtins.getattr')) for n in names), names
