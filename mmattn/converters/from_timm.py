"""timm's ResNet family: plain ResNets, SE-ResNet(X)t and ECA-ResNet-D checkpoints.

Code: https://github.com/huggingface/pytorch-image-models (``timm/models/resnet.py``,
``timm/layers/squeeze_excite.py``, ``eca.py``, ``create_attn.py``).

Layout, in timm's names:

- stem: ``conv1`` + ``bn1`` (7x7), or the deep stem ``conv1.0`` (3x3, stride 2),
  ``conv1.1`` (BN), ``conv1.3``, ``conv1.4``, ``conv1.6`` (3x3 convs and BNs;
  ReLUs between) + ``bn1`` (``stem_type='deep'``: mmdet's ``deep_stem``);
- Bottleneck ``layerS.B``: ``conv1-3``, ``bn1-3``, shortcut ``downsample.0``
  (conv) + ``.1`` (BN), or, with ``avg_down=True``, a pool (no weights,
  ``Identity`` where the stride is 1) then ``downsample.1`` + ``.2``: mmdet's
  ``avg_down`` (its 2x2 ceil-mode average pool without padding counts);
  stride in the 3x3 conv;
- the block's attention is ``se`` whatever its type, after ``bn3``, before
  the residual sum: mmdet's ``after_conv3`` plugin. ``attn_layer='se'`` is
  ``SEModule``: ``fc1`` (1x1 conv with bias) -> ReLU -> ``fc2`` -> sigmoid,
  hidden width ``make_divisible(C / 16, 8, round_limit=0)`` (C / 16 for every
  ResNet position); ``'eca'`` is ``EcaModule``: ``conv`` (Conv1d 1 -> 1 over
  the channels, zero padding, no bias) -> sigmoid, kernel size
  ``max(t if t odd else t + 1, 3)`` with ``t = int(|log2(C) + 1| / 2)``.
  mmattn's ECA rule is the same without the floor of 3, which only differs
  below C = 8; the kernel is read from the weights anyway, and the target's
  is checked against it;
- classifier: ``fc``.
"""
import math
from typing import Dict

from torch import Tensor

from .common import make_divisible, rename, require
from .layouts import ModuleWeights, ParseContext, SourceArch, SourceFamily, register_family

CODE = 'https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/resnet.py'
TOP1_URL = ('https://github.com/huggingface/pytorch-image-models/blob/main/results/'
            'results-imagenet.csv')
_HUB = 'https://huggingface.co/timm/{}/resolve/main/model.safetensors'
_TITLE = "timm's ResNet family"


def timm_se_hidden(channels: int) -> int:
    """timm SEModule's hidden width: ``make_divisible(C * 1/16, 8, round_limit=0)``."""
    return make_divisible(channels / 16, 8, min_ratio=0.)


def timm_eca_kernel(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """timm EcaModule's kernel size for ``channels`` (never below 3)."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def _parse_se(prefix: str, tensors: Dict[str, Tensor], ctx: ParseContext) -> ModuleWeights:
    if 'fc1.weight' in tensors:
        if any(k.startswith('bn.') for k in tensors):
            raise ValueError(f'converter: {prefix} is an SEModule with a norm between its '
                             'layers (norm_layer), which mmattn\'s SE does not have')
        require(prefix, tensors, ('fc1.weight', 'fc2.weight'), "timm's SEModule")
        module = rename(prefix, tensors, 'SE', 'after_conv3',
                        [(f'{n}.{p}', f'{n}.{p}', None) for n in ('fc1', 'fc2')
                         for p in ('weight', 'bias')], _TITLE, 'SEModule (fc1, fc2)')
        module.settings = dict(act='ReLU', gate='Sigmoid')
        return module
    if 'conv.weight' in tensors:
        if 'conv2.weight' in tensors:
            raise ValueError(f'converter: {prefix} is timm\'s EcaModule with use_mlp=True '
                             "('ecam', a timm experiment), which mmattn's ECA does not have")
        module = rename(prefix, tensors, 'ECA', 'after_conv3',
                        [('conv.weight', 'conv.weight', None)], _TITLE, 'EcaModule (conv)')
        module.settings = dict(gate='Sigmoid')
        return module
    raise ValueError(f'converter: {prefix} holds {", ".join(sorted(tensors))}: neither timm\'s '
                     'SEModule (fc1, fc2) nor its EcaModule (conv), so this is not a layout '
                     'the converter knows')


def _se_args(layers=4):
    return tuple(dict(hidden=timm_se_hidden(256 * 2**s), bias=True) for s in range(layers))


def _eca_args(layers=4):
    return tuple(dict(kernel_size=timm_eca_kernel(256 * 2**s)) for s in range(layers))


_SE = dict(module='SE', stage_args=_se_args(), settings=dict(act='ReLU', gate='Sigmoid'))
_ECA = dict(module='ECA', stage_args=_eca_args(), settings=dict(gate='Sigmoid'))
_D = dict(stem='deep', avg_down=True)
_X = dict(groups=32, base_width=4)

ARCHS = {a.name: a for a in (
    SourceArch('resnet50', (3, 4, 6, 3), weights=_HUB.format('resnet50.a1_in1k'), top1=80.382,
               top1_url=TOP1_URL, note='resnet50.a1_in1k (ResNet strikes back A1 recipe)'),
    SourceArch('resnet101', (3, 4, 23, 3), weights=_HUB.format('resnet101.a1h_in1k'),
               top1=81.950, top1_url=TOP1_URL, note='resnet101.a1h_in1k'),
    SourceArch('seresnet50', (3, 4, 6, 3), **_SE, weights=_HUB.format('seresnet50.ra2_in1k'),
               top1=80.260, top1_url=TOP1_URL, note='seresnet50.ra2_in1k (RandAugment recipe)'),
    SourceArch('seresnet101', (3, 4, 23, 3), **_SE,
               note='timm publishes no weights (seresnet101.untrained)'),
    SourceArch('seresnet152', (3, 8, 36, 3), **_SE,
               note='timm publishes no weights (seresnet152.untrained)'),
    SourceArch('seresnext50_32x4d', (3, 4, 6, 3), **_SE, **_X,
               weights=_HUB.format('seresnext50_32x4d.racm_in1k'), top1=81.268,
               top1_url=TOP1_URL, note='seresnext50_32x4d.racm_in1k'),
    SourceArch('seresnext101_32x4d', (3, 4, 23, 3), **_SE, **_X,
               weights=_HUB.format('seresnext101_32x4d.gluon_in1k'), top1=80.886,
               top1_url=TOP1_URL, note='seresnext101_32x4d.gluon_in1k'),
    SourceArch('ecaresnet50d', (3, 4, 6, 3), **_ECA, **_D,
               weights=_HUB.format('ecaresnet50d.miil_in1k'), top1=80.634, top1_url=TOP1_URL,
               note='ecaresnet50d.miil_in1k; ResNet-D: deep stem and average-pool shortcut'),
    SourceArch('ecaresnet101d', (3, 4, 23, 3), **_ECA, **_D,
               weights=_HUB.format('ecaresnet101d.miil_in1k'), top1=82.180, top1_url=TOP1_URL,
               note='ecaresnet101d.miil_in1k; ResNet-D'),
)}

FAMILY = register_family(SourceFamily(
    name='timm', title=_TITLE, code=CODE, modules=dict(se=_parse_se), archs=ARCHS,
    head_prefixes=('fc.',), deep_stem='timm'))
