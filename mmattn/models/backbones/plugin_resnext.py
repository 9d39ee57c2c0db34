"""ResNeXt whose blocks take any number of plugins at every position, checked.

Xie et al., "Aggregated Residual Transformations for Deep Neural Networks",
CVPR 2017. https://arxiv.org/abs/1611.05431

mmdet's ``ResNeXt`` takes ``plugins=`` through mmdet's ``Bottleneck`` (asserts
for a bad position, no ``identity_init``, a plugin BatchNorm frozen with the
backbone's under ``norm_eval``). ``PluginResNeXt`` is mmdet's ``ResNeXt`` (same
arguments and parameter names, so ``Pretrained`` checkpoints such as
``open-mmlab://resnext101_32x4d`` load) with everything
:class:`~mmattn.models.backbones.PluginResNet` adds, from the same mixins:
several plugins per position applied in order, ``identity_init``, a
``ValueError`` naming the backbone for a bad position, stage mask or name
clash, and the plugin-norm rule of ``PluginResNetMixin.train()``. Plugins at
``after_conv1`` and ``after_conv2`` see the grouped width
(``floor(planes * base_width / 64) * groups``), at ``after_conv3`` the block's
output channels.

The mmseg form (mmseg's ``ResNeXt``, whose ``Bottleneck`` feeds every plugin of
a position the block's input) is ``SegPluginResNeXt`` in
:mod:`mmattn.models.backbones.plugin_resnet_seg`.
"""
from mmdet.models.backbones.resnext import Bottleneck, ResNeXt

from mmattn.registry import ROOT_MODELS
from ..utils import check_positive_int
from .plugin_resnet import PluginBottleneckMixin, PluginResNetMixin


class PluginResNeXtMixin(PluginResNetMixin):
    """The checks of a ResNeXt's own arguments; mixed in before ``ResNeXtArgsMixin``.

    ``groups`` and ``base_width`` are held back from ``PluginResNetMixin``'s check
    of the ResNet's arguments, and handed to the ResNeXt by :class:`ResNeXtArgsMixin`.
    """

    def __init__(self, *args, groups: int = 1, base_width: int = 4, **kwargs) -> None:
        owner = type(self).__name__
        check_positive_int(owner, 'groups', groups)
        check_positive_int(owner, 'base_width', base_width)
        depth = kwargs.get('depth', args[0] if args else None)
        if depth not in self.arch_settings:
            raise ValueError(f'{owner}: depth={depth!r} must be one of '
                             f'{sorted(self.arch_settings)} (ResNeXt has Bottleneck blocks '
                             'only; PluginResNet takes depth 18 and 34)')
        self._resnext_args = dict(groups=groups, base_width=base_width)
        super().__init__(*args, **kwargs)


class ResNeXtArgsMixin:
    """Passes the ``groups``/``base_width`` that ``PluginResNeXtMixin`` holds to the ResNeXt."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **self._resnext_args, **kwargs)


class PluginResNeXtBottleneck(PluginBottleneckMixin, Bottleneck):
    """mmdet's ResNeXt ``Bottleneck`` with chained, checked plugins and ``identity_init``."""


@ROOT_MODELS.register_module()
class PluginResNeXt(PluginResNeXtMixin, ResNeXtArgsMixin, ResNeXt):
    """mmdet's ResNeXt whose blocks take plugins as PluginResNet's do.

    A drop-in for ``type='ResNeXt'`` in mmdet configs (e.g.
    ``mmdet::retinanet/retinanet_x101-32x4d_fpn_1x_coco.py``)::

        backbone=dict(type='PluginResNeXt', depth=101, groups=32, base_width=4,
                      plugins=[dict(cfg=dict(type='SE'), position='after_conv3',
                                    stages=(False, True, True, True))])

    Args:
        depth (int): 50, 101 or 152.
        groups (int): Groups of the 3x3 conv. Default: 1.
        base_width (int): Width per group at 64 base channels. Default: 4.
        plugins (list[dict], optional): As :class:`PluginResNet`'s, at
            ``after_conv1``, ``after_conv2`` or ``after_conv3``.
        **kwargs: The other arguments of mmdet's ``ResNet``.
    """

    _plugin_blocks = {Bottleneck: PluginResNeXtBottleneck}


__all__ = ['PluginResNeXt', 'PluginResNeXtMixin', 'ResNeXtArgsMixin', 'PluginResNeXtBottleneck']
