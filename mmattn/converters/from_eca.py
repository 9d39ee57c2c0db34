"""The official ECA-Net repository's ImageNet ResNets (BangguWu/ECANet).

Code: https://github.com/BangguWu/ECANet (``models/eca_resnet.py``,
``models/eca_module.py``); trained with ``main.py -a eca_resnet50 --ksize 3557``,
saved from ``DataParallel`` as ``{'state_dict': ...}`` (keys ``module.``).

Layout: torchvision names (``conv1``, ``bn1``, ``layerS.B.conv1-3``,
``bn1-3``, ``downsample.0-1``; stride in the 3x3 conv; classifier ``fc``)
and ``eca`` in every Bottleneck, after ``bn3``, before the residual sum
(mmdet's ``after_conv3``): ``eca_layer`` is global average pooling, ``conv``
(Conv1d 1 -> 1 over the channels, zero padding, no bias), sigmoid: mmattn's
ECA with the same tensor.

The kernel size is fixed per stage by ``--ksize``, not by the paper's
adaptive rule: the published ECA-Net50 uses 3, 5, 5, 7 (``k3557``), ECA-Net101
3, 3, 5, 7 (``k3357``), while mmattn's adaptive rule gives 5, 5, 5, 7 for
256-2048 channels. The converter reads each kernel from the weights; the
backbone it implies (and the zoo's configs) give ``kernel_size`` per stage
where the adaptive rule differs.
"""
from typing import Dict

from torch import Tensor

from .common import rename, require
from .layouts import ModuleWeights, ParseContext, SourceArch, SourceFamily, register_family

CODE = 'https://github.com/BangguWu/ECANet'
_TITLE = 'the official ECA-Net code'


def _parse_eca(prefix: str, tensors: Dict[str, Tensor], ctx: ParseContext) -> ModuleWeights:
    require(prefix, tensors, ('conv.weight', ), "the official eca_layer")
    module = rename(prefix, tensors, 'ECA', 'after_conv3', [('conv.weight', 'conv.weight', None)],
                    _TITLE, 'eca_layer (conv)')
    module.settings = dict(gate='Sigmoid')
    return module


def _args(kernels):
    return tuple(dict(kernel_size=k) for k in kernels)


_GDRIVE = 'https://drive.google.com/open?id={}'

ARCHS = {a.name: a for a in (
    SourceArch('eca_resnet50', (3, 4, 6, 3), module='ECA', stage_args=_args((3, 5, 5, 7)),
               settings=dict(gate='Sigmoid'),
               weights=_GDRIVE.format('1670rce333c_lyMWFzBlNZoVUvtxbCF_U'), top1=77.42,
               top1_url=CODE + '#imagenet', note='eca_resnet50_k3557'),
    SourceArch('eca_resnet101', (3, 4, 23, 3), module='ECA', stage_args=_args((3, 3, 5, 7)),
               settings=dict(gate='Sigmoid'),
               weights=_GDRIVE.format('1b5FQ8yDFnZ_UhvWT9txmjI_LjbKkgnvC'), top1=78.65,
               top1_url=CODE + '#imagenet', note='eca_resnet101_k3357'),
)}

FAMILY = register_family(SourceFamily(
    name='eca', title=_TITLE, code=CODE, modules=dict(eca=_parse_eca), archs=ARCHS))
