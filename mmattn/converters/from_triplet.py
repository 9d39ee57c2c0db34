"""The official Triplet Attention repository's ImageNet ResNets (landskape-ai/triplet-attention).

Code: https://github.com/landskape-ai/triplet-attention (``MODELS/resnet.py``,
``MODELS/triplet_attention.py``, and the newer ``triplet_attention.py``);
trained with ``train_imagenet.py`` from ``DataParallel``, saved as
``{'state_dict': ...}`` (keys ``module.``).

Layout: torchvision names (``conv1``, ``bn1``, ``layerS.B.conv1-3``,
``bn1-3``, ``downsample.0-1``; stride in the 3x3 conv; classifier ``fc``)
and ``triplet_attention`` in every Bottleneck, after ``bn3``, before the
residual sum (mmdet's ``after_conv3``), with three gates. Each gate Z-pools
``[max, mean]`` over one dimension, then a ``BasicConv``: ``conv`` (2 -> 1,
k x k, no bias) and ``bn`` (eps 1e-5, momentum 0.01), then sigmoid; the three
gated tensors are averaged (two with ``no_spatial``):

- ``ChannelGateH`` (newer code: ``cw``) on ``x.permute(0, 2, 1, 3)``: pools over
  H and convolves the (C, W) plane: mmattn's ``cw``;
- ``ChannelGateW`` (``hc``) on ``x.permute(0, 3, 2, 1)``: pools over W and
  convolves the (H, C) plane: mmattn's ``hc``;
- ``SpatialGate`` (``hw``) on ``x``: pools over C: mmattn's ``hw``.

The published ImageNet weights come from the older names
(``ChannelGateH.spatial.conv.weight``); the newer ones
(``cw.conv.conv.weight``) are read too. mmattn's Z-pool order is the same
(max first), so the weights carry over unchanged; the kernel size (7 or 3 in
the published weights) is read from them.
"""
from typing import Dict

from torch import Tensor

from .common import bn_rules, rename
from .layouts import ModuleWeights, ParseContext, SourceArch, SourceFamily, register_family

CODE = 'https://github.com/landskape-ai/triplet-attention'
_TITLE = 'the official Triplet Attention code'
# (older name, newer name, mmattn name)
_GATES = (('ChannelGateH.spatial', 'cw.conv', 'cw'), ('ChannelGateW.spatial', 'hc.conv', 'hc'),
          ('SpatialGate.spatial', 'hw.conv', 'hw'))


def _parse_triplet(prefix: str, tensors: Dict[str, Tensor], ctx: ParseContext
                   ) -> ModuleWeights:
    rules = []
    for old, new, ours in _GATES:
        for src in (old, new):
            rules.append((f'{src}.conv.weight', f'{ours}.conv.weight', None))
            rules += bn_rules(f'{src}.bn', f'{ours}.bn')
    module = rename(prefix, tensors, 'TripletAttention', 'after_conv3', rules, _TITLE,
                    'TripletAttention (ChannelGateH, ChannelGateW, SpatialGate or cw, hc, hw)')
    if 'cw.conv.weight' not in module.tensors or 'hc.conv.weight' not in module.tensors:
        raise ValueError(f'converter: {prefix} lacks a cross-dimension gate (ChannelGateH/cw '
                         'and ChannelGateW/hc): it is not the official TripletAttention')
    module.settings = dict(gate='Sigmoid')
    return module


def _args(kernel):
    return tuple(dict(kernel_size=kernel, no_spatial=False, norm=True) for _ in range(4))


ARCHS = {a.name: a for a in (
    SourceArch('resnet50_triplet', (3, 4, 6, 3), module='TripletAttention',
               stage_args=_args(7), settings=dict(gate='Sigmoid'),
               weights='https://drive.google.com/open?id=1ptKswHzVmULGbE3DuX6vMCjEbqwUvGiG',
               top1=77.48, top1_url=CODE + '#imagenet',
               note='ResNet-50 + Triplet Attention (k = 7), top-1 error 22.52%'),
    SourceArch('resnet50_triplet_k3', (3, 4, 6, 3), module='TripletAttention',
               stage_args=_args(3), settings=dict(gate='Sigmoid'),
               weights='https://drive.google.com/open?id=1W6aDE6wVNY9NwgcM7WMx_vRhG2-ZiMur',
               top1=76.12, top1_url=CODE + '#imagenet',
               note='ResNet-50 + Triplet Attention (k = 3), top-1 error 23.88%'),
)}

FAMILY = register_family(SourceFamily(
    name='triplet', title=_TITLE, code=CODE, modules=dict(triplet_attention=_parse_triplet),
    archs=ARCHS))
