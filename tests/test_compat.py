"""mmattn.compat: mmengine checkpoints load under torch's weights_only; nothing else does."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmattn.compat import apply_compat, checkpoint_safe_globals


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
    # mmdet's own tools/train.py imports mmattn through the config's custom_imports.
    from tests.conftest import run_fresh_python
    path = tmp_path / 'ckpt.pth'
    _mmengine_like_checkpoint(path)
    code = ('import torch, mmattn\n'
            f'ckpt = torch.load({str(path)!r}, weights_only=True)\n'
            'print(sorted(ckpt))\n')
    assert 'message_hub' in run_fresh_python(code)


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
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


# ------------------------------------------------- mmcv's compiled ops under bfloat16 autocast


def test_every_mmcv_op_function_runs_unsupported_dtypes_in_float32():
    from mmattn.compat import mmcv_op_functions
    functions = mmcv_op_functions()
    names = {f.__name__ for f in functions}
    assert {'NMSop', 'RoIAlignFunction', 'RoIPoolFunction', 'SoftNMSop'} <= names
    assert all(getattr(f.forward, '_mmattn_fp32', False) for f in functions)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_nms_and_roi_align_take_low_precision_on_cpu(dtype):
    from mmcv.ops import batched_nms, nms, roi_align
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(40, 2, generator=g) * 50
    boxes = torch.cat([xy, xy + 5 + torch.rand(40, 2, generator=g) * 20], 1)
    scores = torch.rand(40, generator=g)
    # Low-precision boxes are rounded: compare with float32 NMS on the same rounded values.
    low = boxes.to(dtype)
    _, keep = nms(low, scores.to(dtype), 0.5)
    _, keep_ref = nms(low.float(), scores.to(dtype).float(), 0.5)
    assert torch.equal(keep, keep_ref)
    _, keep = batched_nms(low, scores, torch.arange(40) % 3, dict(type='nms', iou_threshold=0.5))
    _, keep_ref = batched_nms(low.float(), scores, torch.arange(40) % 3,
                              dict(type='nms', iou_threshold=0.5))
    assert torch.equal(keep, keep_ref)
    feats = torch.randn(2, 4, 16, 16, generator=g).to(dtype).requires_grad_(True)
    rois = torch.tensor([[0, 1.0, 2.0, 9.0, 12.0], [1, 0.0, 0.0, 15.0, 15.0]])
    out = roi_align(feats, rois, (3, 3), 1.0, 2, 'avg', True)
    ref_feats = feats.detach().float().requires_grad_(True)
    ref = roi_align(ref_feats, rois, (3, 3), 1.0, 2, 'avg', True)
    assert out.dtype == dtype  # as mmcv's float16 CUDA kernel returns
    torch.testing.assert_close(out, ref.to(dtype))
    out.sum().backward()
    ref.sum().backward()
    assert feats.grad.dtype == dtype
    torch.testing.assert_close(feats.grad.float(), ref_feats.grad.to(dtype).float())


@pytest.mark.integration
def test_two_stage_detector_trains_under_bf16_autocast_on_cpu():
    """--amp on a CPU: the RPN's NMS and the RoI heads' RoIAlign run in float32, the rest in
    bfloat16; two steps of Mask R-CNN (RPN, box and mask RoI heads: what Faster and Cascade
    R-CNN use too) with a module in the backbone give finite losses and a learning module."""
    base = 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
    import mmdet
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    import mmattn.engine  # noqa: F401  (registers AutocastOptimWrapper)
    from mmattn.analysis.model import build_model, synthetic_batch
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'configs', base))
    cfg.model.backbone = dict(
        type='PluginResNet', depth=18, base_channels=16, out_indices=(0, 1, 2, 3),
        zero_init_residual=False,  # else the module's input, after norm2, is zero at init
        plugins=[dict(cfg=dict(type='CBAM', reduction=4), position='after_conv2',
                      stages=(False, True, True, True))])
    cfg.model.neck.in_channels = [16, 32, 64, 128]
    model = build_model(cfg, cfg.model).train()
    optim = build_optim_wrapper(model, dict(type='AutocastOptimWrapper',
                                            optimizer=dict(type='SGD', lr=0.01)))
    batch = synthetic_batch(model, (96, 128), batch_size=2)
    cbam = model.backbone.layer3[0].cbam
    before = cbam.fc1.weight.detach().clone()
    for _ in range(2):
        with optim.optim_context(model):
            losses = model(**model.data_preprocessor(batch, True), mode='loss')
        loss, _ = model.parse_losses(losses)
        assert torch.isfinite(loss)
        optim.update_params(loss)
    # The module learned, through finite gradients (a NaN would have spread into the weights).
    assert torch.isfinite(cbam.fc1.weight).all() and not torch.equal(cbam.fc1.weight, before)


def test_autocast_disabled_where_the_device_has_autocast():
    """Off on the CPU; on the meta device, which torch.autocast refuses, a context that does
    nothing (DANet's float32 regions run there)."""
    from mmattn.compat import autocast_disabled
    with torch.autocast('cpu', dtype=torch.bfloat16):
        with autocast_disabled('cpu'):
            assert not torch.is_autocast_cpu_enabled()
        assert torch.is_autocast_cpu_enabled()
        with autocast_disabled('meta'):
            assert torch.is_autocast_cpu_enabled()  # untouched
