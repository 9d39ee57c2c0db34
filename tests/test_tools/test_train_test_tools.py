"""tools/train.py and tools/test.py end to end on the toy sets: train, resume, DDP, AMP."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from mmattn.compat import apply_compat
from mmattn.datasets import make_toy_ade20k, make_toy_coco
from tests.conftest import CONFIG_DIR, REPO_ROOT

pytestmark = pytest.mark.integration

SEG_CONFIG = CONFIG_DIR / 'demo' / 'fcn_r18-se-d8-gn_toy-ade-128.py'
DET_CONFIG = CONFIG_DIR / 'demo' / 'retinanet_r18-se_fpn_300i_toy-coco.py'


@pytest.fixture(scope='module')
def seg_config(tmp_path_factory):
    """The toy FCN at 64 px on an 8-image toy ADE20K set, no shuffling, losses recorded."""
    root = tmp_path_factory.mktemp('toy_ade')
    make_toy_ade20k(str(root), seed=1, num_train=8, num_val=2, img_size=64)
    cfg = root / 'seg.py'
    cfg.write_text(
        f'_base_ = {str(SEG_CONFIG)!r}\n'
        "custom_imports = dict(imports=['mmattn', 'mmattn.engine',\n"
        "                               'tests.test_tools.loss_recorder'])\n"
        "custom_hooks = [dict(type='LossRecorderHook')]\n"
        'model = dict(data_preprocessor=dict(size=(64, 64)),\n'
        '             decode_head=dict(channels=32))\n'
        'train_dataloader = dict(batch_size=4, sampler=dict(shuffle=False),\n'
        f'                        dataset=dict(data_root={str(root)!r}))\n'
        f'val_dataloader = dict(dataset=dict(data_root={str(root)!r}))\n'
        'test_dataloader = val_dataloader\n'
        'train_cfg = dict(max_iters=4, val_interval=100)\n'
        'default_hooks = dict(logger=dict(interval=1),\n'
        '                     checkpoint=dict(interval=2))\n')
    return cfg


def _run(args, tmp_path, launcher=None, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1',
               MKL_NUM_THREADS='1')
    cmd = ([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
            '--master_port', str(29500 + os.getpid() % 1000)]
           if launcher else [sys.executable])
    result = subprocess.run(cmd + args, cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, (result.stdout[-3000:] + result.stderr[-5000:])
    return result.stdout + result.stderr


def _losses(work_dir, rank=0):
    with open(work_dir / f'losses_rank{rank}.json') as f:
        return {int(k): v for k, v in json.load(f).items()}


def _load(path):
    apply_compat()
    return torch.load(path, map_location='cpu')


def test_train_resume_continues_at_next_iteration_with_same_state(seg_config, tmp_path):
    full, part = tmp_path / 'full', tmp_path / 'part'
    _run(['tools/train.py', str(seg_config), '--work-dir', str(full)], tmp_path)
    # The same run stopped after the checkpoint of iteration 2 ...
    _run(['tools/train.py', str(seg_config), '--work-dir', str(part),
          '--cfg-options', 'train_cfg.max_iters=2'], tmp_path)
    ckpt2 = _load(part / 'iter_2.pth')
    assert ckpt2['meta']['iter'] == 2
    # ... then resumed (the latest checkpoint of its work dir) up to iteration 4.
    log = _run(['tools/train.py', str(seg_config), '--work-dir', str(part), '--resume'],
               tmp_path)
    assert 'resumed' in log.lower()
    losses_full, losses_resumed = _losses(full), _losses(part)
    assert sorted(losses_resumed) == [3, 4]  # it did not start at iteration 1 again
    for it in (3, 4):
        assert losses_resumed[it] == pytest.approx(losses_full[it], rel=1e-5, abs=1e-6)
    # The optimizer state it resumed from is the uninterrupted run's at iteration 2.
    full2 = _load(full / 'iter_2.pth')
    for key, state in full2['optimizer']['state'].items():
        assert torch.allclose(state['momentum_buffer'],
                              ckpt2['optimizer']['state'][key]['momentum_buffer'],
                              rtol=1e-5, atol=1e-7)
    assert full2['optimizer']['param_groups'][0]['lr'] == pytest.approx(
        ckpt2['optimizer']['param_groups'][0]['lr'])
    end_full, end_resumed = _load(full / 'iter_4.pth'), _load(part / 'iter_4.pth')
    assert end_resumed['meta']['iter'] == 4
    for key, value in end_full['state_dict'].items():
        assert torch.allclose(value.float(), end_resumed['state_dict'][key].float(),
                              rtol=1e-4, atol=1e-6), key
    # A resume from an explicit path works the same way.
    _run(['tools/train.py', str(seg_config), '--work-dir', str(tmp_path / 'explicit'),
          '--resume', str(part / 'iter_2.pth'), '--cfg-options', 'train_cfg.max_iters=3'],
         tmp_path)
    assert sorted(_losses(tmp_path / 'explicit')) == [3]


def test_ddp_two_processes_match_one_process_with_same_total_batch(seg_config, tmp_path):
    one, two = tmp_path / 'one', tmp_path / 'two'
    opts = ['--cfg-options', 'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3']
    _run(['tools/train.py', str(seg_config), '--work-dir', str(one)] + opts, tmp_path)
    # Two ranks of 2 images each: the same 4 images per iteration as one rank of 4.
    _run(['tools/train.py', str(seg_config), '--work-dir', str(two), '--launcher',
          'pytorch', '--cfg-options', 'train_dataloader.batch_size=2'] + opts[1:], tmp_path,
         launcher='pytorch')
    single, rank0, rank1 = _losses(one), _losses(two, 0), _losses(two, 1)
    assert sorted(single) == sorted(rank0) == sorted(rank1) == [1, 2, 3]
    for it in single:
        # Mean-reduced pixel losses over equal-sized halves: the mean of the ranks'.
        assert (rank0[it] + rank1[it]) / 2 == pytest.approx(single[it], rel=1e-4)
    assert rank0[1] != pytest.approx(rank1[1], rel=1e-6)  # each rank saw its own half
    w1 = _load(one / 'iter_3.pth')['state_dict']
    w2 = _load(two / 'iter_3.pth')['state_dict']
    for key in w1:
        assert torch.allclose(w1[key].float(), w2[key].float(), rtol=1e-3, atol=1e-5), key


def test_amp_trains_in_bfloat16_autocast_on_cpu(seg_config, tmp_path):
    work_dir = tmp_path / 'amp'
    _run(['tools/train.py', str(seg_config), '--work-dir', str(work_dir), '--amp',
          '--cfg-options', 'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3'],
         tmp_path)
    losses = _losses(work_dir)
    assert sorted(losses) == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())
    dumped = (work_dir / seg_config.name).read_text()
    assert "type='AutocastOptimWrapper'" in dumped and "dtype='bfloat16'" in dumped


def test_detector_trains_validates_from_iteration_0_and_tests(tmp_path):
    root = tmp_path / 'toy_coco'
    make_toy_coco(str(root), seed=2, num_train=4, num_val=2, img_size=96)
    data = f'{root}/'
    work_dir = tmp_path / 'det'
    opts = ['--cfg-options', f'train_dataloader.dataset.data_root={data}',
            f'val_dataloader.dataset.data_root={data}',
            f'test_dataloader.dataset.data_root={data}',
            f'val_evaluator.ann_file={data}annotations/instances_val.json',
            f'test_evaluator.ann_file={data}annotations/instances_val.json',
            'train_dataloader.batch_size=2', 'train_cfg.max_iters=3',
            'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3',
            'default_hooks.logger.interval=1']
    # A detector with attention plugins (SE in PluginResNet-18), 3 iterations under --amp.
    log = _run(['tools/train.py', str(DET_CONFIG), '--work-dir', str(work_dir), '--amp']
               + opts, tmp_path)
    (scalars, ) = work_dir.glob('*/vis_data/scalars.json')
    logged = [json.loads(line) for line in scalars.read_text().splitlines()]
    losses = {r['step']: r['loss'] for r in logged if 'loss' in r}
    assert sorted(losses) == [1, 2, 3]
    assert all(math.isfinite(v) for v in losses.values())
    # ValBeforeTrainHook: COCO mAP of the initial weights, then after training, compared.
    assert log.count('bbox_mAP_copypaste') == 2
    assert 'bbox_mAP: ' in log and 'at iteration 0 ->' in log and 'at iteration 3' in log
    out = tmp_path / 'preds.pkl'
    log = _run(['tools/test.py', str(DET_CONFIG), str(work_dir / 'iter_3.pth'), '--work-dir',
                str(tmp_path / 'det_test'), '--out', str(out)] + opts[:6], tmp_path)
    assert 'bbox_mAP_copypaste' in log
    assert out.exists()
