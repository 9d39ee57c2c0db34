"""How the zoo's configs start: as the pretrained model, or from a converted checkpoint.

- The module configs (every 2D module at its paper's position) use mmattn's
  PluginResNet / PluginResNetV1c with ``identity_init=True``: at iteration 0
  the detector or segmentor computes exactly what its base computes with the
  same backbone weights, outputs and losses alike.
- The ``-in1k`` configs start from an ImageNet checkpoint trained with the
  module: every module with such a checkpoint has them, their header names
  the download and the converter command, and the converter's file loads
  strictly into each one's backbone.
"""
import importlib
import math

import pytest
import torch
from mmengine.config import Config

from mmattn.config import paper_placements
from mmattn.converters import FAMILIES, convert_state_dict, get_arch, published_backbone
from mmattn.models import list_attention_modules
from mmattn.models.utils.identity_init import IdentityInit
from mmattn.zoo import PRETRAINED_ZOO, ZOO_MODELS, convert_command, converted_checkpoint
from tests.conftest import CONFIG_DIR
from tests.test_converters.sources import SOURCES
from tests.test_zoo.test_zoo_configs import build_model, synthetic_batch

# One module per base model: a BN inside (CBAM) in the two-stage detector with
# its samplers, a plain gate (SE) in the one-stage one, GroupNorms in the mmseg
# backbone (SCSA). Mask R-CNN's backbone and RPN are Faster R-CNN's.
IDENTITY_CASES = {'faster-rcnn': 'CBAM', 'retinanet': 'SE', 'fcn': 'SCSA'}


def _model_key(zoo):
    return zoo.name.split('_', 1)[0]


def _base_model(base, tmp_path):
    stub = tmp_path / 'base.py'
    stub.write_text(f'_base_ = {base!r}\n')
    cfg = Config.fromfile(str(stub))
    return cfg, build_model(cfg)


def _outputs(model, data):
    with torch.no_grad():
        out = model._run_forward(data, mode='tensor')
    flat = []

    def walk(x):
        if isinstance(x, torch.Tensor):
            flat.append(x)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
    walk(out)
    return flat


def _losses(model, data):
    torch.manual_seed(0)  # the samplers draw the same proposals for both models
    with torch.no_grad():
        return model.parse_losses(model._run_forward(data, mode='loss'))[1]


@pytest.mark.integration
@pytest.mark.parametrize('zoo', [z for z in ZOO_MODELS if _model_key(z) in IDENTITY_CASES],
                         ids=_model_key)
def test_module_configs_start_as_the_pretrained_base(zoo, tmp_path):
    module_type = IDENTITY_CASES[_model_key(zoo)]
    abbr = paper_placements()[module_type].short_name
    family = list_attention_modules()[module_type].family
    cfg = Config.fromfile(CONFIG_DIR / family / f'{zoo.name.format(abbr=abbr)}.py')
    assert cfg.model.backbone.type == zoo.backbone
    assert all(p['identity_init'] for p in cfg.model.backbone.plugins)
    base_cfg, base = _base_model(zoo.base, tmp_path)
    torch.manual_seed(1)
    model = build_model(cfg)
    # The same weights in both (as a Pretrained checkpoint would load them): the base's,
    # with BN statistics that are not the identity. Only the modules are missing.
    with torch.no_grad():
        for m in base.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and missing
    assert all(f'.{abbr}.' in k for k in missing), missing
    wrappers = [m for m in model.backbone.modules() if isinstance(m, IdentityInit)]
    assert wrappers and all(float(w.scale) == 0.0 for w in wrappers)

    data = synthetic_batch(cfg, model)
    data = model.data_preprocessor(data, True)
    base_data = base.data_preprocessor(synthetic_batch(base_cfg, base), True)
    assert torch.equal(data['inputs'], base_data['inputs'])
    base.eval()
    model.eval()
    outs, base_outs = _outputs(model, data), _outputs(base, base_data)
    assert outs and len(outs) == len(base_outs)
    for a, b in zip(outs, base_outs):
        assert torch.equal(a, b)
    base.train()
    model.train()
    losses, base_losses = _losses(model, data), _losses(base, base_data)
    assert losses.keys() == base_losses.keys()
    for key in losses:
        assert math.isfinite(float(losses[key])) and float(losses[key]) == float(base_losses[key])
    # The modules are really there: at scale 1 the model computes something else.
    with torch.no_grad():
        for w in wrappers:
            w.scale.fill_(1.0)
    model.eval()
    assert not all(torch.equal(a, b) for a, b in zip(_outputs(model, data),
                                                     _outputs(base, base_data)))


def test_every_module_with_published_imagenet_weights_has_pretrained_configs():
    published = {arch.module for fam in FAMILIES.values() for arch in fam.archs.values()
                 if arch.module and arch.weights}
    assert published == set(PRETRAINED_ZOO)
    for source in PRETRAINED_ZOO.values():
        assert get_arch(source.family, source.arch).weights


@pytest.mark.parametrize('module_type', sorted(PRETRAINED_ZOO))
def test_pretrained_configs_load_the_converted_file_strictly(module_type):
    source = PRETRAINED_ZOO[module_type]
    arch = get_arch(source.family, source.arch)
    # What the converter command in the configs' headers writes.
    state = dict(SOURCES[(source.family, source.arch)][0]().state_dict())
    if source.family in ('mmpretrain', 'scsa'):
        state = {(f'head.{k}' if k.startswith('fc.') else f'backbone.{k}'): v
                 for k, v in state.items()}
    converted, report = convert_state_dict(state, source.family, arch=source.arch)
    checkpoint = converted_checkpoint(source.family, source.arch)
    abbr = paper_placements()[module_type].short_name
    paths = sorted(CONFIG_DIR.rglob(f'*-{abbr}-in1k_*.py'))
    assert len(paths) == len(ZOO_MODELS)
    for path in paths:
        text = path.read_text()
        assert f'# Weights: {arch.weights}' in text
        for line in convert_command(source.family, source.arch, arch.weights):
            assert f'#   {line}\n' in text
        cfg = Config.fromfile(path)
        scope = cfg.get('default_scope', 'mmdet')
        backbone_cfg = cfg.model.backbone.to_dict()
        if scope == 'mmdet':
            assert backbone_cfg['init_cfg'] == dict(type='Pretrained', checkpoint=checkpoint)
        else:
            assert cfg.model.pretrained == checkpoint
        task = 'det' if scope == 'mmdet' else 'seg'
        expected = published_backbone(source.family, source.arch, task)[1]
        assert backbone_cfg['type'] == expected['type']
        assert backbone_cfg['plugins'] == expected['plugins']
        registry = importlib.import_module(f'{scope}.registry').MODELS
        backbone_cfg.pop('init_cfg', None)
        with torch.device('meta'):
            backbone = registry.build(backbone_cfg)
        backbone.load_state_dict(converted, strict=True, assign=True)
