"""mmattn.compat.mmcv_ops: mmcv's compiled ops take bfloat16 (and CPU float16) inputs."""
import os

import pytest
import torch


def test_importing_mmattn_leaves_mmcv_ops_alone():
    # The wrapping is process-wide: only where CPU mixed precision is used, never on import.
    from tests.conftest import run_fresh_python
    code = ('import mmattn\n'
            'from mmattn.compat import mmcv_op_functions\n'
            "print(any(getattr(f.forward, '_mmattn_fp32', False) for f in mmcv_op_functions()))\n")
    assert run_fresh_python(code).strip() == 'False'


def test_the_cpu_autocast_wrapper_makes_mmcv_ops_take_low_precision():
    from tests.conftest import run_fresh_python
    code = ('import torch\n'
            'from mmattn.engine import AutocastOptimWrapper\n'
            'from mmattn.compat import mmcv_op_functions\n'
            'p = torch.nn.Parameter(torch.zeros(1))\n'
            'AutocastOptimWrapper(optimizer=torch.optim.SGD([p], lr=0.1))\n'
            "print(all(getattr(f.forward, '_mmattn_fp32', False) for f in mmcv_op_functions()))\n")
    assert run_fresh_python(code).strip() == 'True'


def test_every_mmcv_op_function_runs_unsupported_dtypes_in_float32():
    from mmattn.compat import mmcv_op_functions, mmcv_ops_in_fp32
    mmcv_ops_in_fp32()
    functions = mmcv_op_functions()
    names = {f.__name__ for f in functions}
    assert {'NMSop', 'RoIAlignFunction', 'RoIPoolFunction', 'SoftNMSop'} <= names
    assert all(getattr(f.forward, '_mmattn_fp32', False) for f in functions)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_nms_and_roi_align_take_low_precision_on_cpu(dtype):
    from mmattn.compat import mmcv_ops_in_fp32
    mmcv_ops_in_fp32()
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
