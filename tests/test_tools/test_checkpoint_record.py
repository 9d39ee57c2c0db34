"""A checkpoint carries its model: tools/train.py --attention records the specs in every
checkpoint's meta; tools/test.py and visualize_attention.py rebuild the model from a config
without attention, and refuse, with one sentence, a config whose modules do not fit."""
import os
import subprocess
import sys

import pytest
import torch

from mmattn.config import RECORD_KEY
from mmattn.datasets import make_toy_ade20k
from tests.conftest import CONFIG_DIR, REPO_ROOT

pytestmark = pytest.mark.integration

SEG_CONFIG = CONFIG_DIR / 'demo' / 'fcn_r18-se-d8-gn_toy-ade-128.py'


def _run(args, ok=True):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable] + args, cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert (result.returncode == 0) == ok, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """The toy FCN (no attention of its own) trained 2 iterations with --attention CBAM."""
    root = tmp_path_factory.mktemp('ckpt_record')
    make_toy_ade20k(str(root / 'data'), seed=1, num_train=4, num_val=1, img_size=64)
    data = f"dict(data_root={str(root / 'data')!r})"
    common = (f'_base_ = {str(SEG_CONFIG)!r}\n'
              'model = dict(data_preprocessor=dict(size=(64, 64)), decode_head=dict(channels=16))\n'
              f'train_dataloader = dict(batch_size=2, dataset={data})\n'
              f'val_dataloader = dict(dataset={data})\n'
              'test_dataloader = val_dataloader\n'
              'train_cfg = dict(max_iters=2, val_interval=100)\n'
              'default_hooks = dict(checkpoint=dict(interval=2))\n')
    bare = root / 'bare.py'  # the base without attention
    bare.write_text(common + 'model = dict(backbone=dict(plugins=None))\n')
    with_se = root / 'with_se.py'  # the base with its SE plugins
    with_se.write_text(common)
    work = root / 'work'
    _run(['tools/train.py', str(bare), '--work-dir', str(work), '--attention',
          'CBAM:after_conv2'])
    return dict(bare=bare, with_se=with_se, ckpt=work / 'iter_2.pth', data=root / 'data')


def test_the_checkpoint_records_the_attention_it_was_trained_with(trained):
    from mmattn.compat import apply_compat
    apply_compat()
    meta = torch.load(trained['ckpt'], map_location='cpu', weights_only=False)['meta']
    assert meta[RECORD_KEY] == dict(specs=['CBAM:after_conv2'], identity_init=False)


def test_test_tool_rebuilds_the_model_from_a_config_without_attention(trained):
    out = _run(['tools/test.py', str(trained['bare']), str(trained['ckpt'])])
    text = out.stdout + out.stderr
    assert 'the checkpoint was trained with --attention CBAM:after_conv2' in text
    assert 'mIoU' in text


def test_a_config_whose_modules_do_not_fit_is_refused_in_one_sentence(trained):
    out = _run(['tools/test.py', str(trained['with_se']), str(trained['ckpt'])], ok=False)
    (line, ) = [s for s in out.stderr.splitlines() if s.startswith("error:")]
    assert "iter_2.pth does not fit the config's model: the model has SE at" in line
    assert 'modules the model does not have, at backbone.layer' in line and '.cbam' in line
    assert 'trained with --attention CBAM:after_conv2' in line
    assert 'Traceback' not in out.stderr


def test_visualize_rebuilds_the_model_and_takes_attention(trained, tmp_path):
    image = sorted((trained['data'] / 'images' / 'validation').glob('*.jpg'))[0]
    out = _run(['tools/analysis_tools/visualize_attention.py', str(trained['bare']),
                str(trained['ckpt']), str(image), '--out-dir', str(tmp_path / 'maps')])
    assert 'the checkpoint was trained with --attention CBAM:after_conv2' in (out.stdout +
                                                                              out.stderr)
    assert 'CBAM' in (tmp_path / 'maps' / f'{image.stem}.json').read_text()
    refused = _run(['tools/analysis_tools/visualize_attention.py', str(trained['with_se']),
                    str(trained['ckpt']), str(image), '--out-dir', str(tmp_path / 'no')],
                   ok=False)
    assert "does not fit the config's model" in refused.stderr
