"""ResNet whose blocks take any number of plugins at every position, BasicBlock included.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
https://arxiv.org/abs/1512.03385

mmdet's ``ResNet`` takes ``plugins=`` only with ``Bottleneck`` (depth 50+):
its ``BasicBlock`` asserts ``plugins is None``, so ResNet-18/34 cannot take an
attention module by config. ``PluginResNet`` is mmdet's ``ResNet`` (same
arguments, same weights layout, so ``Pretrained`` checkpoints load) with blocks
that

- take plugins in ``BasicBlock`` too, at ``after_conv1`` and ``after_conv2``
  (``Bottleneck``: ``after_conv1``, ``after_conv2``, ``after_conv3``); the last
  position is after the last norm, before the residual sum, as in mmdet;
- apply several plugins at one position in list order;
- refuse unknown positions, stage masks of the wrong length and clashing
  names with a ``ValueError`` (mmdet asserts);
- accept ``identity_init=True`` in a plugin dict: the module is wrapped in
  :class:`~mmattn.models.utils.identity_init.IdentityInit` and the block
  starts as the block without the plugin;
- with ``norm_eval=True`` keep the backbone's own norms frozen, as mmdet does,
  but let the plugins' norms train (see :meth:`PluginResNetMixin.train`);
- refuse ``frozen_stages``, ``num_stages``, ``out_indices`` and plugin
  ``stages`` that do not fit the network with a sentence, and return the
  module from ``train()``/``eval()``.

The mixins here are shared with the mmseg variants
(:mod:`mmattn.models.backbones.plugin_resnet_seg`).
"""
import inspect
import numbers
from typing import Dict, Iterator, List, Optional, Sequence

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.registry import ROOT_MODELS
from ..utils.lookup import lookup_type
from ..utils.plugins import as_plugin_list, build_plugin

_PLUGIN_KEYS = ('cfg', 'position', 'stages', 'identity_init')


class PluginBlockMixin:
    """Builds a block's plugins and chains them; mixed in before a ResNet block class.

    The block's own constructor runs with ``plugins=None``; the plugins are
    then added with the attribute names mmdet's ``Bottleneck.forward`` reads
    (``with_plugins``, ``after_conv{i}_plugin_names``), each position's
    channels taken from the output channels of the conv before it.
    """

    _plugin_convs = ('conv1', 'conv2')

    def __init__(self, *args, plugins: Optional[List[dict]] = None, **kwargs) -> None:
        super().__init__(*args, plugins=None, **kwargs)
        plugins = list(plugins or [])
        self.plugins = plugins
        self.with_plugins = bool(plugins)
        for conv in self._plugin_convs:
            position = f'after_{conv}'
            specs = [p for p in plugins if p['position'] == position]
            setattr(self, f'{position}_plugins', [p['cfg'] for p in specs])
            names = self._make_plugins(getattr(self, conv).out_channels, specs, position)
            setattr(self, f'{position}_plugin_names', names)

    def _make_plugins(self, in_channels: int, specs: List[dict], position: str) -> List[str]:
        names = []
        for spec in specs:
            name, layer = build_plugin(spec['cfg'], in_channels,
                                       identity_init=spec.get('identity_init', False))
            if hasattr(self, name):
                raise ValueError(
                    f'{type(self).__name__}: a plugin at {position} would be named {name!r}, '
                    'which the block already has (a plugin of the same type elsewhere in '
                    'the block, or a layer): give it a distinct postfix in its cfg, e.g. '
                    f'cfg=dict(type={spec["cfg"]["type"]!r}, postfix=2)')
            self.add_module(name, layer)
            names.append(name)
        return names

    def forward_plugin(self, x: Tensor, plugin_names: List[str]) -> Tensor:
        out = x
        for name in plugin_names:
            out = getattr(self, name)(out)
        return out


class PluginBasicBlockMixin(PluginBlockMixin):
    """BasicBlock forward with plugins after conv1 (after its ReLU) and after conv2.

    ``after_conv2`` is after ``norm2``, before the residual sum, the place of
    Bottleneck's ``after_conv3``.
    """

    _plugin_convs = ('conv1', 'conv2')

    def __init__(self, *args, dcn: Optional[dict] = None, **kwargs) -> None:
        if dcn is not None:
            raise ValueError(f'{type(self).__name__}: dcn is not supported in BasicBlock '
                             '(ResNet-18/34); use depth 50 or more for stage_with_dcn')
        super().__init__(*args, dcn=None, **kwargs)

    def forward(self, x: Tensor) -> Tensor:

        def _inner_forward(x: Tensor) -> Tensor:
            identity = x
            out = self.relu(self.norm1(self.conv1(x)))
            out = self.forward_plugin(out, self.after_conv1_plugin_names)
            out = self.norm2(self.conv2(out))
            out = self.forward_plugin(out, self.after_conv2_plugin_names)
            if self.downsample is not None:
                identity = self.downsample(x)
            return out + identity

        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(_inner_forward, x, use_reentrant=False)
        else:
            out = _inner_forward(x)
        return self.relu(out)


class PluginBottleneckMixin(PluginBlockMixin):
    """Bottleneck plugins after conv1, conv2 (each after its ReLU) and conv3 (after norm3)."""

    _plugin_convs = ('conv1', 'conv2', 'conv3')


class PluginBasicBlock(PluginBasicBlockMixin, BasicBlock):
    """mmdet's ``BasicBlock`` with plugins at ``after_conv1`` and ``after_conv2``."""


class PluginBottleneck(PluginBottleneckMixin, Bottleneck):
    """mmdet's ``Bottleneck`` with checked plugin names and ``identity_init``."""


class PluginResNetMixin:
    """ResNet plugin handling; mixed in before an mmdet or mmseg ``ResNet`` class.

    ``_plugin_blocks`` maps the ResNet's block classes to the plugin-capable
    ones. ``arch_settings`` is left alone, so the ResNet's checks of
    ``block is BasicBlock`` (``zero_init_residual``) still hold.
    """

    _plugin_blocks: Dict[type, type] = {}

    def __init__(self, *args, **kwargs) -> None:
        # The ResNet asserts (or fails later, in _freeze_stages) on these; check them first,
        # with the values it will really use (defaults included). The signature is the
        # ResNet's own: mmseg's V1c/V1d take **kwargs and pass them on.
        resnet = next(k for k in type(self).__mro__
                      if 'frozen_stages' in inspect.signature(k.__init__).parameters)
        bound = inspect.signature(resnet.__init__).bind(self, *args, **kwargs)
        bound.apply_defaults()
        self._check_stage_arguments(bound.arguments)
        super().__init__(*args, **kwargs)

    @classmethod
    def _check_stage_arguments(cls, arguments: dict) -> None:
        owner = cls.__name__

        def is_int(value: object) -> bool:
            return isinstance(value, numbers.Integral) and not isinstance(value, bool)

        num_stages = arguments.get('num_stages', 4)
        if not is_int(num_stages) or not 1 <= num_stages <= 4:
            raise ValueError(f'{owner}: num_stages={num_stages!r} must be an int from 1 to 4')
        frozen_stages = arguments.get('frozen_stages', -1)
        if not is_int(frozen_stages) or not -1 <= frozen_stages <= num_stages:
            raise ValueError(
                f'{owner}: frozen_stages={frozen_stages!r} must be an int from -1 (nothing '
                f'frozen) to num_stages={num_stages} (the stem and every stage frozen)')
        out_indices = arguments.get('out_indices', ())
        if not isinstance(out_indices, (list, tuple)) or not all(
                is_int(i) and 0 <= i < num_stages for i in out_indices):
            raise ValueError(
                f'{owner}: out_indices={out_indices!r} must be a sequence of stage indices '
                f'from 0 to num_stages - 1 = {num_stages - 1}')

    def train(self, mode: bool = True) -> 'PluginResNetMixin':
        """Set train/eval mode as the ResNet does, with the plugins' norms training.

        mmdet's and mmseg's ``ResNet.train`` put every ``_BatchNorm`` under the
        backbone in eval mode when ``norm_eval=True``, the plugins' own norms
        included: those never update their statistics (they stay at mean 0,
        variance 1 when the plugin is new) and never normalise. Here the
        pretrained network's own norms stay frozen, and the norms inside
        plugins of the stages that are not frozen (``frozen_stages``) train.

        Returns:
            The module itself, as ``nn.Module.train`` does (mmdet's returns None).
        """
        super().train(mode)
        if mode and self.norm_eval:
            for plugin in self.trainable_plugins():
                for m in plugin.modules():
                    if isinstance(m, _BatchNorm):
                        m.train()
        return self

    def trainable_plugins(self) -> Iterator[nn.Module]:
        """The plugin layers of the stages that ``frozen_stages`` does not freeze."""
        for i, layer_name in enumerate(self.res_layers):
            if i < self.frozen_stages:
                continue
            for block in getattr(self, layer_name):
                for conv in getattr(block, '_plugin_convs', ()):
                    for name in getattr(block, f'after_{conv}_plugin_names', ()):
                        yield getattr(block, name)

    def _positions(self) -> Sequence[str]:
        convs = self._plugin_blocks[self.block]._plugin_convs
        return tuple(f'after_{conv}' for conv in convs)

    def make_stage_plugins(self, plugins: Sequence[dict], stage_idx: int) -> List[dict]:
        """The plugins of stage ``stage_idx``, checked; see mmdet's ``ResNet``.

        Each plugin is ``dict(cfg=..., position=..., stages=None,
        identity_init=False)``. ``stages`` (one bool per stage) defaults to
        every stage.
        """
        owner = type(self).__name__
        plugins = as_plugin_list(owner, plugins)
        positions = self._positions()
        stage_plugins = []
        for plugin in plugins:
            if not isinstance(plugin, dict):
                raise TypeError(f'{owner}: each plugin must be a dict, got {plugin!r}')
            unknown = set(plugin) - set(_PLUGIN_KEYS)
            if unknown or 'cfg' not in plugin or 'position' not in plugin:
                raise ValueError(
                    f'{owner}: a plugin is dict(cfg=..., position=..., stages=..., '
                    f'identity_init=...) with cfg and position required, got keys '
                    f'{sorted(plugin)}')
            lookup_type(owner, plugin['cfg'], 'plugin')
            if plugin['position'] not in positions:
                raise ValueError(
                    f'{owner}: plugin position {plugin["position"]!r} is not one of '
                    f'{positions} of the {self.block.__name__} of depth {self.depth}')
            stages = plugin.get('stages')
            if stages is not None and (not isinstance(stages, (list, tuple)) or not all(
                    isinstance(s, bool) for s in stages)):
                raise TypeError(
                    f'{owner}: plugin stages={stages!r} must be a tuple of True/False, one '
                    f'per stage (e.g. {(False, ) + (True, ) * (self.num_stages - 1)})')
            if stages is not None and len(stages) != self.num_stages:
                raise ValueError(
                    f'{owner}: plugin stages={tuple(stages)} must have one entry per '
                    f'stage (num_stages={self.num_stages})')
            if not isinstance(plugin.get('identity_init', False), bool):
                raise TypeError(f'{owner}: identity_init must be True or False, got '
                                f'{plugin["identity_init"]!r}')
            if stages is None or stages[stage_idx]:
                stage_plugins.append(
                    dict(cfg=plugin['cfg'], position=plugin['position'],
                         identity_init=plugin.get('identity_init', False)))
        return stage_plugins

    def make_res_layer(self, **kwargs):
        kwargs['block'] = self._plugin_blocks[kwargs['block']]
        return super().make_res_layer(**kwargs)


@ROOT_MODELS.register_module()
class PluginResNet(PluginResNetMixin, ResNet):
    """mmdet's ResNet whose blocks, BasicBlock included, take plugins.

    A drop-in for ``type='ResNet'`` in mmdet configs: every argument of mmdet's
    ``ResNet`` (``depth`` 18/34/50/101/152, ``out_indices``, ``frozen_stages``,
    ``norm_cfg``, ``norm_eval``, ``style``, ``dcn``, ``stage_with_dcn``,
    ``init_cfg``, ...) means the same, and the parameter names are mmdet's,
    so torchvision/mmdet ``Pretrained`` checkpoints load (the plugins are
    reported as missing keys and keep their own initialisation).

    Args:
        depth (int): 18, 34 (BasicBlock), 50, 101 or 152 (Bottleneck).
        plugins (list[dict], optional): Each
            ``dict(cfg=dict(type=...), position=..., stages=None,
            identity_init=False)``.

            - ``position``: ``'after_conv1'`` or ``'after_conv2'`` for depth
              18/34; ``'after_conv1'``, ``'after_conv2'`` or ``'after_conv3'``
              for depth 50+.
            - ``stages``: one bool per stage; default every stage.
            - ``identity_init``: wrap the module in ``IdentityInit`` so that
              the network starts as the one without it.
            - Several plugins at one position run in list order; two of one
              type need a distinct ``postfix`` in their ``cfg`` (the layer is
              named ``_abbr_ + postfix``).
        **kwargs: The other arguments of mmdet's ``ResNet``.
    """

    _plugin_blocks = {BasicBlock: PluginBasicBlock, Bottleneck: PluginBottleneck}
