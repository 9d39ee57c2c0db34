"""Reading checkpoints (.pth, .pth.tar, .safetensors, nesting, ``module.``) and writing them."""
import os
import pickle
from collections import OrderedDict

import pytest
import torch
from safetensors.torch import save_file

from mmattn.converters.io import load_checkpoint_file, save_converted

STATE = OrderedDict(a=torch.arange(6.).view(2, 3), b=torch.ones(2, dtype=torch.long))


def _same(got, want=STATE, ordered=True):
    assert (list(got) if ordered else sorted(got)) == (list(want) if ordered else sorted(want))
    assert all(torch.equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize('name, obj', [
    ('bare.pth', STATE),
    ('dp.pth.tar', {'epoch': 3, 'best_prec1': 77.0,
                    'state_dict': OrderedDict((f'module.{k}', v) for k, v in STATE.items())}),
    ('model.pth', {'model': STATE, 'optimizer': {'state': {}}}),
    ('nested.pth', {'meta': {'cfg': 'x = 1'}, 'state_dict': {'model': dict(STATE)}}),
    ('with_junk.pth', {'state_dict': dict(STATE, step=7, name='resnet')}),
])
def test_torch_files(tmp_path, name, obj):
    path = tmp_path / name
    torch.save(obj, path)
    state, meta = load_checkpoint_file(str(path))
    _same(state)
    assert meta == ({'cfg': 'x = 1'} if name == 'nested.pth' else {})


def test_safetensors(tmp_path):
    path = tmp_path / 'model.safetensors'
    save_file({f'module.{k}': v for k, v in STATE.items()}, str(path))
    state, meta = load_checkpoint_file(str(path))
    _same(state, ordered=False)  # safetensors stores its own order
    assert meta == {}


def test_module_prefix_is_stripped_only_when_every_key_has_it(tmp_path):
    path = tmp_path / 'mixed.pth'
    torch.save({'module.a': STATE['a'], 'b': STATE['b']}, path)
    state, _ = load_checkpoint_file(str(path))
    assert list(state) == ['module.a', 'b']


class _Payload:
    def __reduce__(self):
        return (os.system, ('true', ))


def test_refusals(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'converter: source checkpoint .*nope.pth.* does '
                       'not exist'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
    (tmp_path / 'w.npz').write_bytes(b'x')
    with pytest.raises(ValueError, match=r'must end in one of .pth, .pth.tar'):
        load_checkpoint_file(str(tmp_path / 'w.npz'))
    (tmp_path / 'broken.pth').write_bytes(b'not a zip, not a pickle')
    with pytest.raises(ValueError, match=r"could not read .*broken.pth.* with "
                       r'torch.load\(weights_only=True\)'):
        load_checkpoint_file(str(tmp_path / 'broken.pth'))
    (tmp_path / 'code.pth').write_bytes(pickle.dumps({'state_dict': _Payload()}))
    with pytest.raises(ValueError, match=r'holds pickled objects other than tensors'):
        load_checkpoint_file(str(tmp_path / 'code.pth'))
    torch.save({'state_dict': {'epoch': 1}}, tmp_path / 'empty.pth')
    with pytest.raises(ValueError, match=r'holds no tensors \(its keys: epoch\)'):
        load_checkpoint_file(str(tmp_path / 'empty.pth'))
    (tmp_path / 'broken.safetensors').write_bytes(b'\x00' * 16)
    with pytest.raises(ValueError, match=r'could not read .*broken.safetensors.* as safetensors'):
        load_checkpoint_file(str(tmp_path / 'broken.safetensors'))


def test_save_writes_state_and_meta_and_never_replaces(tmp_path):
    path = tmp_path / 'out' / 'converted.pth'
    save_converted(dict(STATE), dict(arch='x'), str(path))
    loaded = torch.load(path, weights_only=True)
    assert loaded['meta'] == dict(arch='x')
    _same(loaded['state_dict'])
    with pytest.raises(FileExistsError, match='it is not overwritten unless asked'):
        save_converted({'a': torch.zeros(1)}, {}, str(path))
    _same(torch.load(path, weights_only=True)['state_dict'])
    save_converted({'a': torch.zeros(1)}, {}, str(path), force=True)
    assert list(torch.load(path, weights_only=True)['state_dict']) == ['a']
    assert os.listdir(path.parent) == ['converted.pth']
