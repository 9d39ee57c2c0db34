"""The official CBAM repository's ImageNet ResNets (Jongchan/attention-module).

Code: https://github.com/Jongchan/attention-module (``MODELS/model_resnet.py``,
``MODELS/cbam.py``); trained with ``train_imagenet.py --arch resnet --depth 50
--att-type CBAM``, saved from ``DataParallel`` as ``{'state_dict': ...}``
(keys ``module.``) in a ``.pth.tar``.

Layout: torchvision names (``conv1``, ``bn1``, ``layerS.B.conv1-3``,
``bn1-3``, ``downsample.0-1``; stride in the 3x3 conv; classifier ``fc``),
and ``cbam`` in every Bottleneck, after ``bn3``, before the residual sum
(mmdet's ``after_conv3``):

- ``cbam.ChannelGate.mlp``: ``Flatten``, ``Linear(C, C // 16)`` (``mlp.1``),
  ReLU, ``Linear(C // 16, C)`` (``mlp.3``), both with bias, applied to the
  average- and the max-pooled descriptors and summed, then sigmoid: mmattn's
  ``fc1``/``fc2`` as 1x1 convs (the same weights, reshaped to
  ``(out, in, 1, 1)``);
- ``cbam.SpatialGate``: ``ChannelPool`` concatenates ``[max, mean]`` over the
  channels; ``spatial.conv`` (2 -> 1, 7x7, no bias), ``spatial.bn``
  (BatchNorm, eps 1e-5, momentum 0.01), sigmoid. mmattn's CBAM pools
  ``[mean, max]`` (the paper's order), so the conv's two input channels are
  swapped, which computes the same function; the BN maps to ``spatial_norm``
  (mmattn's default norm_cfg is BN, eps 1e-5; its momentum, 0.1, only acts
  in training).

A CBAM without its spatial gate (``no_spatial=True``) has no mmattn
equivalent and is refused.
"""
from typing import Dict

from torch import Tensor

from .common import bn_rules, rename, require
from .layouts import ModuleWeights, ParseContext, SourceArch, SourceFamily, register_family

CODE = 'https://github.com/Jongchan/attention-module'
_TITLE = 'the official CBAM code'
SWAP_NOTE = ("CBAM: the spatial conv's two input channels are swapped (the official "
             'ChannelPool stacks [max, mean], mmattn [mean, max]): the same function')
LINEAR_NOTE = "CBAM: the MLP's Linear layers become 1x1 convs (the same weights, reshaped)"


def _to_conv(weight: Tensor) -> Tensor:
    return weight[:, :, None, None]


def _swap_pools(weight: Tensor) -> Tensor:
    return weight[:, [1, 0]].contiguous()


def _parse_cbam(prefix: str, tensors: Dict[str, Tensor], ctx: ParseContext) -> ModuleWeights:
    require(prefix, tensors, ('ChannelGate.mlp.1.weight', 'ChannelGate.mlp.3.weight'),
            "the official CBAM's ChannelGate")
    if 'SpatialGate.spatial.conv.weight' not in tensors:
        raise ValueError(f'converter: {prefix} is a CBAM without its spatial gate '
                         "(no_spatial=True), which mmattn's CBAM does not have")
    rules = [(f'ChannelGate.mlp.{i}.weight', f'fc{n}.weight', _to_conv)
             for i, n in ((1, 1), (3, 2))]
    rules += [(f'ChannelGate.mlp.{i}.bias', f'fc{n}.bias', None) for i, n in ((1, 1), (3, 2))]
    rules += [('SpatialGate.spatial.conv.weight', 'spatial_conv.weight', _swap_pools)]
    rules += bn_rules('SpatialGate.spatial.bn', 'spatial_norm')
    module = rename(prefix, tensors, 'CBAM', 'after_conv3', rules, _TITLE,
                    'CBAM (ChannelGate.mlp, SpatialGate.spatial)')
    module.settings = dict(act='ReLU', channel_gate='Sigmoid', spatial_gate='Sigmoid')
    module.notes = (LINEAR_NOTE, SWAP_NOTE)
    return module


def _args():
    return tuple(dict(hidden=256 * 2**s // 16, kernel_size=7, norm=True) for s in range(4))


_CBAM = dict(module='CBAM', stage_args=_args(),
             settings=dict(act='ReLU', channel_gate='Sigmoid', spatial_gate='Sigmoid'))

ARCHS = {a.name: a for a in (
    SourceArch('resnet50_cbam', (3, 4, 6, 3), **_CBAM,
               weights='https://drive.google.com/file/d/1mvAVvhLR_2XY_bPYxh-SEz4vDmGzSArO',
               top1=77.622, top1_url=CODE + '#resume-with-checkpoints',
               note='RESNET50_CBAM, 100 epochs; the paper reports 77.34'),
    SourceArch('resnet101_cbam', (3, 4, 23, 3), **_CBAM,
               note='the code builds it (--depth 101); no weights are published'),
)}

FAMILY = register_family(SourceFamily(
    name='cbam', title=_TITLE, code=CODE, modules=dict(cbam=_parse_cbam), archs=ARCHS))
