"""mmseg's ResNet (V1b), ResNetV1c and V1d with plugins that all apply, BasicBlock included.

He et al., "Bag of Tricks for Image Classification with Convolutional Neural
Networks", CVPR 2019 (the V1c/V1d stems). https://arxiv.org/abs/1812.01187

mmseg 1.2's ``Bottleneck.forward_plugin`` feeds every plugin the block's
feature ``x`` instead of the previous plugin's output
(``out = getattr(self, name)(x)`` in its loop), so at a position with several
plugins only the last one's output survives: the others run, and get no
gradient. Its ``BasicBlock`` refuses plugins (``assert plugins is None``).
These variants keep every mmseg argument (``contract_dilation``,
``dilations``, ``strides``, ``multi_grid``, ``norm_eval``, ...) and chain the
plugins in list order, as :class:`~mmattn.models.backbones.PluginResNet` does.
``SegPluginResNeXt`` does the same for mmseg's ``ResNeXt``.
"""
from mmseg.models.backbones.resnet import BasicBlock, Bottleneck, ResNet, ResNetV1c, ResNetV1d
from mmseg.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmseg.models.backbones.resnext import ResNeXt

from mmattn.registry import ROOT_MODELS
from .plugin_resnet import PluginBasicBlockMixin, PluginBottleneckMixin, PluginResNetMixin
from .plugin_resnext import PluginResNeXtMixin, ResNeXtArgsMixin


class SegPluginBasicBlock(PluginBasicBlockMixin, BasicBlock):
    """mmseg's ``BasicBlock`` with plugins at ``after_conv1`` and ``after_conv2``."""


class SegPluginBottleneck(PluginBottleneckMixin, Bottleneck):
    """mmseg's ``Bottleneck`` whose plugins at one position are chained."""


_SEG_PLUGIN_BLOCKS = {BasicBlock: SegPluginBasicBlock, Bottleneck: SegPluginBottleneck}


@ROOT_MODELS.register_module()
class PluginResNetV1c(PluginResNetMixin, ResNetV1c):
    """mmseg's ``ResNetV1c`` (deep stem) whose plugins all apply, in list order.

    Arguments as mmseg's ``ResNetV1c``; ``plugins`` as
    :class:`~mmattn.models.backbones.PluginResNet`'s (``identity_init``
    included; depth 18/34 take ``after_conv1``/``after_conv2``).
    """

    _plugin_blocks = _SEG_PLUGIN_BLOCKS


@ROOT_MODELS.register_module()
class PluginResNetV1d(PluginResNetMixin, ResNetV1d):
    """mmseg's ``ResNetV1d`` (deep stem, average-pool shortcut) whose plugins all apply.

    Arguments as mmseg's ``ResNetV1d``; ``plugins`` as
    :class:`~mmattn.models.backbones.PluginResNet`'s.
    """

    _plugin_blocks = _SEG_PLUGIN_BLOCKS


@ROOT_MODELS.register_module()
class PluginResNetV1b(PluginResNetMixin, ResNet):
    """mmseg's plain-stem ``ResNet`` (V1b in mmseg's words) whose plugins all apply.

    The stem is one 7x7 conv (``conv1``, ``bn1``), as torchvision's and the
    attention papers' ImageNet ResNets, which cannot load into the deep stem
    of ``ResNetV1c``/``V1d``. Arguments as mmseg's ``ResNet``; ``plugins`` as
    :class:`~mmattn.models.backbones.PluginResNet`'s.
    """

    _plugin_blocks = _SEG_PLUGIN_BLOCKS


class SegPluginResNeXtBottleneck(PluginBottleneckMixin, ResNeXtBottleneck):
    """mmseg's ResNeXt ``Bottleneck`` whose plugins at one position are chained."""


@ROOT_MODELS.register_module()
class SegPluginResNeXt(PluginResNeXtMixin, ResNeXtArgsMixin, ResNeXt):
    """mmseg's ``ResNeXt`` whose plugins all apply, in list order.

    Arguments as mmseg's ``ResNeXt`` (``groups``, ``base_width`` and mmseg's
    ``ResNet`` arguments); ``plugins`` as
    :class:`~mmattn.models.backbones.PluginResNeXt`'s.
    """

    _plugin_blocks = {ResNeXtBottleneck: SegPluginResNeXtBottleneck}
