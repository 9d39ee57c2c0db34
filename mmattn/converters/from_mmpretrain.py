"""mmpretrain's SE-ResNet model-zoo checkpoints.

Code: https://github.com/open-mmlab/mmpretrain (``mmpretrain/models/backbones/seresnet.py``,
``mmpretrain/models/utils/se_layer.py``).

Layout: an ``ImageClassifier`` state dict, ``{'meta': ..., 'state_dict': ...}``
with the backbone under ``backbone.`` in torchvision names (``conv1``,
``bn1``, ``layerS.B.conv1-3``, ``bn1-3``, ``downsample.0-1``; stride in the
3x3 conv) and the classifier under ``head.``. ``SEBottleneck`` applies
``se_layer`` after ``norm3``, before the residual sum (mmdet's
``after_conv3``): ``SELayer`` is ``conv1`` (a ``ConvModule``: 1x1 conv with
bias, ReLU) then ``conv2`` (1x1 conv with bias, sigmoid), hidden width
``make_divisible(C // 16, 8)`` (C / 16 at every ResNet position). Its
tensors are ``se_layer.conv1.conv.weight``/``bias`` and
``se_layer.conv2.conv.weight``/``bias``: mmattn's SE ``fc1`` and ``fc2``.
"""
from typing import Dict

from torch import Tensor

from .common import make_divisible, rename, require
from .layouts import ModuleWeights, ParseContext, SourceArch, SourceFamily, register_family

CODE = ('https://github.com/open-mmlab/mmpretrain/blob/main/mmpretrain/models/backbones/'
        'seresnet.py')
TOP1_URL = 'https://github.com/open-mmlab/mmpretrain/blob/main/configs/seresnet/README.md'
_TITLE = "mmpretrain's SEResNet"


def mmpretrain_se_hidden(channels: int) -> int:
    """mmpretrain SELayer's hidden width: ``make_divisible(C // 16, 8)``."""
    return make_divisible(channels // 16, 8)


def _parse_se_layer(prefix: str, tensors: Dict[str, Tensor], ctx: ParseContext
                    ) -> ModuleWeights:
    require(prefix, tensors, ('conv1.conv.weight', 'conv2.conv.weight'), "mmpretrain's SELayer")
    module = rename(prefix, tensors, 'SE', 'after_conv3',
                    [(f'conv{i}.conv.{p}', f'fc{i}.{p}', None) for i in (1, 2)
                     for p in ('weight', 'bias')], _TITLE, 'SELayer (conv1.conv, conv2.conv)')
    module.settings = dict(act='ReLU', gate='Sigmoid')
    return module


def _se_args():
    return tuple(dict(hidden=mmpretrain_se_hidden(256 * 2**s), bias=True) for s in range(4))


_SE = dict(module='SE', stage_args=_se_args(), settings=dict(act='ReLU', gate='Sigmoid'))
_ZOO = 'https://download.openmmlab.com/mmclassification/v0/se-resnet/'

ARCHS = {a.name: a for a in (
    SourceArch('seresnet50', (3, 4, 6, 3), **_SE,
               weights=_ZOO + 'se-resnet50_batch256_imagenet_20200804-ae206104.pth',
               top1=77.74, top1_url=TOP1_URL, note='seresnet50_8xb32_in1k (140 epochs)'),
    SourceArch('seresnet101', (3, 4, 23, 3), **_SE,
               weights=_ZOO + 'se-resnet101_batch256_imagenet_20200804-ba5b51d4.pth',
               top1=78.26, top1_url=TOP1_URL, note='seresnet101_8xb32_in1k (140 epochs)'),
)}

FAMILY = register_family(SourceFamily(
    name='mmpretrain', title=_TITLE, code=CODE, modules=dict(se_layer=_parse_se_layer),
    archs=ARCHS, prefix='backbone.', head_prefixes=('head.',)))
