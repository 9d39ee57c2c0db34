"""Attention modules on every output level of any neck (FPN, PAFPN, ChannelMapper, ...)."""
from typing import Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import build_module, check_positive_int
from ..utils.plugins import as_cfg_list, build_plugin_sequence


@ROOT_MODELS.register_module()
class AttentionNeck(BaseModule):
    """A neck whose output levels each go through attention modules.

    Two modes:

    - with ``neck``: the neck is built from its config and the modules run on
      its outputs. ``channels`` and ``num_levels`` default to the neck's
      ``out_channels`` and ``num_outs`` (mmdet's FPN, PAFPN, ChannelMapper,
      ...); a neck without these attributes needs them given.
    - without (``neck=None``): the modules run on the inputs, so this is one
      more element of a neck list, e.g. after ASFF::

          neck=[dict(type='FPN', ...),
                dict(type='AttentionNeck', channels=256, num_levels=5,
                     attention=dict(type='SE'))]

    Args:
        attention (dict | list[dict]): Module config(s), built with the
            level's channels as ``in_channels``, applied in list order. Two of
            one type need a distinct ``postfix``.
        neck (dict, optional): Config of the wrapped neck. Default: None.
        channels (int | Sequence[int], optional): Channels of each level the
            modules see. Default: the neck's ``out_channels`` (required
            without a neck).
        num_levels (int, optional): Number of levels. Default: the neck's
            ``num_outs``, or the length of ``channels`` when it is a list.
        levels (Sequence[int], optional): Which levels get the modules.
            Default: all.
        share (bool): One set of modules shared by the levels (needs equal
            channels) instead of one per level. Default: False.
        identity_init (bool): Wrap each module in ``IdentityInit``, so that the
            outputs equal the neck's at initialisation. Default: False.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config of the wrapper. Default: None.
    """

    def __init__(self,
                 attention: Union[dict, Sequence[dict]],
                 neck: Optional[dict] = None,
                 channels: Union[int, Sequence[int], None] = None,
                 num_levels: Optional[int] = None,
                 levels: Optional[Sequence[int]] = None,
                 share: bool = False,
                 identity_init: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        cfgs = as_cfg_list('AttentionNeck', 'attention', attention)
        if neck is not None:
            if not isinstance(neck, dict):
                raise TypeError(f'AttentionNeck: neck must be a config dict or None, got '
                                f'{type(neck).__name__}')
            self.neck = build_module('AttentionNeck', neck, 'neck')
            if channels is None:
                channels = getattr(self.neck, 'out_channels', None)
            if num_levels is None and not isinstance(channels, (list, tuple)):
                num_levels = getattr(self.neck, 'num_outs', None)
        else:
            self.neck = nn.Identity()
        if channels is None:
            source = ('without a neck' if neck is None else
                      f'{type(self.neck).__name__} has no out_channels to read it from')
            raise ValueError('AttentionNeck: channels is needed (the channels of each level '
                             f'the modules see): {source}')
        self.channels = self._per_level(channels, num_levels)
        self.num_levels = len(self.channels)
        if levels is None:
            levels = range(self.num_levels)
        levels = list(levels)
        for i in levels:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.num_levels:
                raise ValueError(f'AttentionNeck: level {i!r} in levels={levels} must be in '
                                 f'[0, {self.num_levels})')
        self.levels = tuple(sorted(set(levels)))
        self.share = share
        if share:
            chosen = {self.channels[i] for i in self.levels}
            if len(chosen) != 1:
                raise ValueError(f'AttentionNeck: share=True needs equal channels on the '
                                 f'levels {self.levels}, got {self.channels}')
            shared = build_plugin_sequence('AttentionNeck', cfgs, chosen.pop(), identity_init)
        self.attentions = nn.ModuleList([
            (shared if share else
             build_plugin_sequence('AttentionNeck', cfgs, c, identity_init))
            if i in self.levels else nn.Identity()
            for i, c in enumerate(self.channels)])

    @staticmethod
    def _per_level(channels: Union[int, Sequence[int]], num_levels: Optional[int]):
        if isinstance(channels, (list, tuple)):
            values = [check_positive_int('AttentionNeck', 'channels[i]', c) for c in channels]
            if num_levels is not None and num_levels != len(values):
                raise ValueError(f'AttentionNeck: channels={list(channels)} must have '
                                 f'num_levels={num_levels} entries')
            return values
        channels = check_positive_int('AttentionNeck', 'channels', channels)
        if num_levels is None:
            raise ValueError(f'AttentionNeck: channels={channels} is one int: num_levels '
                             'is needed too')
        return [channels] * check_positive_int('AttentionNeck', 'num_levels', num_levels)

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        outs = list(self.neck(inputs))
        if len(outs) != self.num_levels:
            raise ValueError(f'AttentionNeck: expected {self.num_levels} levels, got '
                             f'{len(outs)}')
        for i in self.levels:
            if outs[i].dim() != 4 or outs[i].shape[1] != self.channels[i]:
                raise ValueError(f'AttentionNeck: level {i} must have shape '
                                 f'(B, {self.channels[i]}, H, W), got {tuple(outs[i].shape)}')
            outs[i] = self.attentions[i](outs[i])
        return tuple(outs)
