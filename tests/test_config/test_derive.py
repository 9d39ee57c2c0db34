"""The one derivation of --attention and the sweep, on mmdet's and mmseg's shipped configs."""
from collections import Counter

import pytest
import torch

from mmattn.config import (apply_attention, build_parts, derive_model, parse_module_spec,
                           render_model)
from tests.test_models.test_backbones.test_plugin_resnet import _randomize_norms
from tests.test_models.test_utils.toy_plugins import mim_config

# ----------------------------------------------------------------------------- shipped configs


def _types(module):
    """mmattn's registered types in ``module`` (not its internal blocks), counted."""
    from mmattn.registry import ROOT_MODELS
    return Counter(type(m).__name__ for m in module.modules()
                   if type(m).__module__.startswith('mmattn.')
                   and ROOT_MODELS.get(type(m).__name__) is type(m))


DET, SEG = 'mmdet', 'mmseg'
# (package, config as shipped, --attention, backbone type after, mmattn modules in the
#  backbone (and neck), what the base loses)
SHIPPED = {
    'R-50 stock ResNet': (DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', ['SE'],
                          'PluginResNet', {'PluginResNet': 1, 'SE': 13}, []),
    'R-18 BasicBlock': (DET, 'retinanet/retinanet_r18_fpn_1x_coco.py',
                        ['SE:after_conv2', "ECA(kernel_size=3):after_conv1:0001"],
                        'PluginResNet', {'PluginResNet': 1, 'SE': 6, 'ECA': 2}, []),
    'X-101 + DCN + GCNet plugins': (
        DET, 'gcnet/cascade-mask-rcnn_x101-32x4d-syncbn-dconv-c3-c5-r4-gcb-c3-c5_fpn_1x_coco.py',
        ['CBAM'], 'PluginResNeXt', {'PluginResNeXt': 1, 'CBAM': 30}, ['ContextBlock plugin']),
    'Swin': (DET, 'swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py', ['CBAM'], 'AttentionBackbone',
             {'AttentionBackbone': 1, 'CBAM': 3}, []),
    'mmseg V1c, two at one position': (
        SEG, 'pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py',
        ['SE', 'SE(reduction=4)'], 'PluginResNetV1c', {'PluginResNetV1c': 1, 'SE': 26}, []),
    'mmseg r18b plain ResNet': (SEG, 'pspnet/pspnet_r18b-d8_4xb2-80k_cityscapes-512x1024.py',
                                ['ECA:after_conv2'], 'PluginResNetV1b',
                                {'PluginResNetV1b': 1, 'ECA': 6}, []),
    'mmseg HRNet': (SEG, 'hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py',
                    ['SE', 'CBAM:after_stage:0001'], 'AttentionBackbone',
                    {'AttentionBackbone': 2, 'SE': 3, 'CBAM': 1}, []),
    'YOLOv3 neck, coarsest first': (DET, 'yolo/yolov3_d53_8xb8-320-273e_coco.py', ['ASFF'],
                                    'Darknet', {'ASFF': 1}, []),
    'neck: AttentionNeck then ASFF': (
        DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', ['SE:after_neck:00111', 'ASFF'],
        'ResNet', {'AttentionNeck': 1, 'SE': 3, 'ASFF': 1}, []),
}


@pytest.mark.parametrize('case', list(SHIPPED))
def test_shipped_configs_derive_and_build(case):
    package, path, specs, backbone_type, modules, removed = SHIPPED[case]
    cfg = mim_config(package, path)
    derivation = derive_model(cfg, [parse_module_spec(s) for s in specs])
    model = derivation.model
    assert model['backbone']['type'] == backbone_type
    assert derivation.removed == removed
    built = build_parts(model, package, list(derivation.override))
    found = sum((_types(part) for part in built.values()), Counter())
    assert dict(found) == modules
    # Everything else in the model is the base's.
    base = cfg.model.to_dict()
    assert {k: v for k, v in model.items() if k not in ('backbone', 'neck')} == {
        k: v for k, v in base.items() if k not in ('backbone', 'neck')}


def test_the_switch_keeps_every_base_argument_and_the_plugins_place():
    cfg = mim_config(DET, 'gcnet/cascade-mask-rcnn_x101-32x4d-syncbn-dconv-c3-c5-r4-gcb-c3-c5'
                          '_fpn_1x_coco.py')
    base = cfg.model.backbone.to_dict()
    derivation = derive_model(cfg, [parse_module_spec('SE(reduction=8)::0011')])
    backbone = derivation.model['backbone']
    assert {k: v for k, v in backbone.items() if k not in ('type', 'plugins')} == {
        k: v for k, v in base.items() if k not in ('type', 'plugins')}
    assert backbone['plugins'] == [dict(cfg=dict(type='SE', reduction=8),
                                        stages=(False, False, True, True),
                                        position='after_conv3')]
    assert derivation.override == dict(backbone=dict(type='PluginResNeXt',
                                                     plugins=backbone['plugins']))
    assert derivation.notes == ['backbone ResNeXt -> PluginResNeXt: the same network and '
                                'parameter names, with blocks that take every plugin']


def test_mmdet_resnetv1d_becomes_plugin_resnet_with_its_stem():
    cfg = mim_config(DET, 'retinanet/retinanet_r50_fpn_1x_coco.py')
    cfg.model.backbone.type = 'ResNetV1d'
    backbone = derive_model(cfg, [parse_module_spec('SE')]).model['backbone']
    assert backbone['type'] == 'PluginResNet'
    assert backbone['deep_stem'] is True and backbone['avg_down'] is True


@pytest.mark.parametrize('package, path, spec, match', [
    (DET, 'retinanet/retinanet_r18_fpn_1x_coco.py', 'SE',
     'ResNet-18, whose BasicBlock has no conv3: use after_conv1 or after_conv2'),
    (DET, 'swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py', 'SE:after_conv2',
     'SwinTransformer has no ResNet blocks for after_conv2; put the module on its outputs: '
     r'SE:after_stage\[:STAGES\]'),
    (DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', 'SE::011',
     "module spec 'SE::011': stages 011 must have 4 digits, one per backbone stage"),
    (DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', 'SE:after_neck:0111',
     'must have 5 digits, one per neck level'),
    (DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', 'GeneralizedAttention',
     "no default position for module type 'GeneralizedAttention'"),
    (DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', 'ASFF:after_stage',
     'ASFF is a neck: its position is after_neck'),
    (DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', 'AttentionNeck',
     'AttentionNeck is an insertion point, not a module'),
    (DET, 'retinanet/retinanet_r50_fpn_1x_coco.py', 'CBMA',
     "module spec 'CBMA': module type 'CBMA' is not registered .*closest registered names: "
     "'CBAM'"),
    (SEG, 'hrnet/fcn_hr18_4xb2-40k_cityscapes-512x1024.py', 'SE:after_neck',
     "the config's model has no neck"),
])
def test_requests_the_base_cannot_take_say_why(package, path, spec, match):
    with pytest.raises(ValueError, match=match):
        derive_model(mim_config(package, path), [parse_module_spec(spec)])


def test_apply_attention_sets_the_model_and_imports_and_logs_the_section():
    import io
    import logging
    cfg = mim_config(DET, 'retinanet/retinanet_r18_fpn_1x_coco.py')
    logger, stream = logging.getLogger('mmattn_test_apply'), io.StringIO()
    logger.addHandler(logging.StreamHandler(stream))
    logger.setLevel(logging.INFO)
    derivation = apply_attention(cfg, ["SE(reduction=4):after_conv2:0011"], logger=logger)
    assert cfg.model.backbone.type == 'PluginResNet'
    assert cfg.model.backbone.plugins == derivation.model['backbone']['plugins']
    assert cfg.custom_imports == dict(imports=['mmattn'], allow_failed_imports=False)
    out = stream.getvalue()
    assert '--attention SE(reduction=4):after_conv2:0011:' in out
    assert 'SE after conv2 of every basic block in stages 3-4 with {\'reduction\': 4}' in out
    assert 'backbone ResNet -> PluginResNet' in out
    assert render_model(dict(backbone=derivation.model['backbone'])).rstrip() in out


@pytest.mark.integration
def test_a_shipped_detector_with_the_flag_trains_one_step():
    """tools/train.py's own parser and load_config on mmdet's RetinaNet R-18 as shipped."""
    import runpy

    from mmengine.optim import build_optim_wrapper

    from mmattn.analysis.model import build_model, synthetic_batch
    from mmattn.engine import load_config
    from tests.conftest import REPO_ROOT
    tool = runpy.run_path(str(REPO_ROOT / 'tools' / 'train.py'))
    args = tool['parse_args']([_shipped(DET, 'retinanet/retinanet_r18_fpn_1x_coco.py'),
                               '--attention', 'SE:after_conv2', 'CBAM:after_conv1:0001'])
    cfg = load_config(args.config, args.cfg_options, args.attention)
    model = build_model(cfg, cfg.model.to_dict())  # without the ImageNet download
    assert _types(model.backbone) == Counter(PluginResNet=1, SE=6, CBAM=2)
    # zero_init_residual zeroes each block's last norm, which would stop every plugin's
    # gradient at step 1: pretrained-like norms instead.
    _randomize_norms(model.backbone)
    optim = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.01)))
    model.train()
    params = {n: p.detach().clone() for n, p in model.backbone.named_parameters()
              if '.se.' in n or '.cbam.' in n}
    log_vars = model.train_step(synthetic_batch(model, (64, 64), 2), optim)
    assert torch.isfinite(log_vars['loss'])
    moved = [n for n, p in model.backbone.named_parameters()
             if n in params and not torch.equal(p.detach(), params[n])]
    assert any('.se.' in n for n in moved) and any('.cbam.' in n for n in moved)


def _shipped(package, path):
    import importlib
    from pathlib import Path
    return str(Path(importlib.import_module(package).__file__).parent / '.mim' / 'configs' / path)


def test_identity_init_starts_every_module_as_the_identity():
    cfg = mim_config(DET, 'retinanet/retinanet_r18_fpn_1x_coco.py')
    derivation = derive_model(cfg, [parse_module_spec(s) for s in (
        'SE:after_conv2', 'CBAM:after_stage:0001', 'ECA:after_neck')], identity_init=True)
    model = derivation.model
    assert model['backbone']['backbone']['plugins'][0]['identity_init'] is True
    assert model['backbone']['identity_init'] is True and model['neck']['identity_init'] is True
    built = build_parts(model, DET)
    found = sum((_types(part) for part in built.values()), Counter())
    # 6 SE plugins, 1 CBAM on the last output, 5 ECA on the FPN levels: each wrapped.
    assert found['IdentityInit'] == 6 + 1 + 5
    from mmattn import IdentityInit
    assert all(m.scale.item() == 0 for part in built.values() for m in part.modules()
               if isinstance(m, IdentityInit))
    from mmattn.engine import load_config
    with pytest.raises(ValueError, match='--identity-init applies to the modules of --attention'):
        load_config(_shipped(DET, 'retinanet/retinanet_r18_fpn_1x_coco.py'), identity_init=True)
