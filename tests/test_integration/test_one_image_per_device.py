"""One image per device: a detector with any module trains at every size its pipeline can produce.

mmdet's pipelines pad every image to a multiple of 32, so the smallest batch a detector sees
is one 32x32 image, where ResNet's stage 4 (stride 32) is 1x1 and so are RetinaNet's P6 and P7;
a 128x96 image has a 1x1 P7 too. A BatchNorm in training mode cannot normalise one value per
channel: every module, at its paper's stages (:func:`~mmattn.config.paper_placements`; a module
the table does not list goes after conv2 of stages 2-4), and ASFF after the FPN must train
there. The module list comes from the registry, so a module added later is checked too.
"""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from mmattn import list_attention_modules
from mmattn.analysis.model import build_model, synthetic_batch
from mmattn.config import placement_of

pytestmark = pytest.mark.integration

SIZES = [(32, 32), (96, 128), (33, 47)]  # (H, W) before padding; 33x47 pads to 64x64


def _retinanet_with(module_type):
    """RetinaNet with a narrow PluginResNet-18 (widths 32..256), the module, FPN and ASFF."""
    place = placement_of(module_type)
    stages = place.stages if place else (False, True, True, True)
    cfg = Config.fromfile(_mmdet_config('retinanet/retinanet_r18_fpn_1x_coco.py'))
    cfg.model.backbone = dict(
        type='PluginResNet', depth=18, base_channels=32, zero_init_residual=False,
        norm_eval=True, frozen_stages=1,
        plugins=[dict(cfg=dict(type=module_type), position='after_conv2', stages=stages)])
    cfg.model.neck = [
        dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=32, start_level=1,
             add_extra_convs='on_input', num_outs=5),
        dict(type='ASFF', in_channels=32, num_levels=5, out_channels=32)]
    cfg.model.bbox_head.update(in_channels=32, feat_channels=32, stacked_convs=1)
    return cfg


def _mmdet_config(name):
    import os.path as osp

    import mmdet
    return osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs', name)


@pytest.mark.parametrize('module_type', sorted(list_attention_modules()))
def test_detector_trains_with_one_image_at_every_padded_size(module_type):
    cfg = _retinanet_with(module_type)
    model = build_model(cfg, cfg.model).train()
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01)))
    for size in SIZES:
        batch = synthetic_batch(model, size, batch_size=1)
        data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        assert torch.isfinite(loss), (module_type, size)
        optim.update_params(loss)
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), name
