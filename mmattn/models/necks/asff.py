"""Adaptively Spatial Feature Fusion.

Liu et al., "Learning Spatial Fusion for Single-Shot Object Detection", 2019.
https://arxiv.org/abs/1911.09516
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (AttentionMap, MapSpec, accumulation_dtype, check_act_cfg, check_conv_cfg,
                     check_norm_cfg, check_positive_int, check_positive_sizes, check_tensor,
                     conv_module_forward, sizes_are_symbolic)


def _per_level(name: str, value: Union[int, Sequence[int]], num_levels: Optional[int],
               ) -> List[int]:
    if isinstance(value, (list, tuple)):
        values = [check_positive_int('ASFF', f'{name}[i]', v) for v in value]
        if num_levels is not None and len(values) != num_levels:
            raise ValueError(f'ASFF: {name}={list(value)} must have num_levels={num_levels} '
                             'entries')
        return values
    value = check_positive_int('ASFF', name, value)
    if num_levels is None:
        raise ValueError(f'ASFF: {name}={value} is one int: give num_levels too, or a list '
                         'with one entry per level')
    return [value] * num_levels


@ROOT_MODELS.register_module()
class ASFF(BaseModule):
    """Adaptively spatial feature fusion of every pyramid level into every level.

    An mmdet neck: a tuple of L levels in (finest first, the order of mmdet's
    backbones and necks, or coarsest first with ``coarsest_first=True``, the
    order of ``YOLOV3Neck``'s outputs), a tuple of L levels out in the same
    order. For each target level l,
    every level k is brought to level l's resolution and to its channels
    ``in_channels[l]``:

    - coarser (k > l): a 1x1 conv, then nearest upsampling;
    - finer (k < l): ``l - k - 1`` max-pools (3x3, stride 2) and a 3x3
      stride-2 conv (the paper's 1/4 case: one max-pool, then the conv);
    - itself: unchanged.

    A 1x1 conv per source maps it to ``compress_channels``; their
    concatenation goes through a 1x1 conv (with bias, no norm or activation,
    as in the official code) to L logits per pixel, and a softmax over the
    levels gives the fusion weights. The weighted sum goes through a 3x3 conv
    to ``out_channels[l]``. The convs other than the logits are
    conv-norm-activation (``norm_cfg``, ``act_cfg``). Sizes need not be exact
    multiples: a resampled level whose size differs from the target's (odd
    sizes) is resized to it with nearest interpolation.

    Stack it after FPN or PAFPN in a neck list::

        neck=[dict(type='FPN', in_channels=[256, 512, 1024, 2048],
                   out_channels=256, start_level=1,
                   add_extra_convs='on_input', num_outs=5),
              dict(type='ASFF', in_channels=256, out_channels=256,
                   num_levels=5)]

    In its paper's setting, YOLOv3, after ``YOLOV3Neck`` (strides 32, 16, 8)::

        neck=[dict(type='YOLOV3Neck', num_scales=3, in_channels=[1024, 512, 256],
                   out_channels=[512, 256, 128]),
              dict(type='ASFF', in_channels=[512, 256, 128],
                   out_channels=[512, 256, 128], coarsest_first=True)]

    The fusion weights, for plotting: ``outs, weights =
    asff(feats, return_weights=True)``, ``weights[l]`` of shape
    ``(B, L, H_l, W_l)``, summing to 1 over dim 1 (in a detector built from
    the list above, ``asff`` is ``model.neck[1]`` and ``feats`` is
    ``model.neck[0](model.backbone(images))``). In a plain forward pass they
    go through the probe ``fusion_weights`` (its i-th call is level i), which
    is how ``mmattn.visualization`` collects and draws them in any model.

    Args:
        in_channels (int | Sequence[int]): Channels of each input level; one
            int for all (then ``num_levels`` is required).
        out_channels (int | Sequence[int]): Channels of each output level.
        num_levels (int, optional): Number of levels L >= 2. Default: the
            length of ``in_channels``.
        compress_channels (int, optional): Channels of the per-source weight
            convs (the paper's ``compress_c``). Default: 16, or 8 when
            ``rfb=True``.
        rfb (bool): The official code's setting for networks with RFB blocks:
            halves the default ``compress_channels`` to save memory.
            Default: False.
        coarsest_first (bool): The levels come (and go) coarsest first, as
            ``YOLOV3Neck`` gives them; ``in_channels``, ``out_channels`` and
            the fusion weights' sources are then in that order too.
            Default: False (finest first).
        conv_cfg (dict, optional): Conv layer config. Default: None.
        norm_cfg (dict, optional): Norm layer config. Default: BN.
        act_cfg (dict, optional): Activation config. Default: LeakyReLU with
            slope 0.1, as the official code.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None (ConvModule's Kaiming init).
    """

    # The fusion weights of each target level (the i-th call of the probe is level i).
    paper = 'Learning Spatial Fusion for Single-Shot Object Detection, 2019'
    paper_url = 'https://arxiv.org/abs/1911.09516'
    short_name = 'asff'
    family = 'asff'
    note = 'any number of levels and channels; `return_weights=True` gives the fusion weights'
    _maps_ = {'fusion_weights': MapSpec('fusion_weights', 'BLHW', 'spatial', 'softmax', 'L',
                                        series='split', series_name='from level')}

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 out_channels: Union[int, Sequence[int]],
                 num_levels: Optional[int] = None,
                 compress_channels: Optional[int] = None,
                 rfb: bool = False,
                 coarsest_first: bool = False,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_levels is not None:
            num_levels = check_positive_int('ASFF', 'num_levels', num_levels)
        self.in_channels = _per_level('in_channels', in_channels, num_levels)
        self.num_levels = len(self.in_channels)
        if self.num_levels < 2:
            raise ValueError(f'ASFF: num_levels={self.num_levels} must be >= 2 (it fuses '
                             'levels)')
        self.out_channels = _per_level('out_channels', out_channels, self.num_levels)
        if compress_channels is None:
            compress_channels = 8 if rfb else 16
        self.compress_channels = check_positive_int('ASFF', 'compress_channels',
                                                    compress_channels)
        if not isinstance(coarsest_first, bool):
            raise TypeError(f'ASFF: coarsest_first must be True or False, got {coarsest_first!r}')
        self.coarsest_first = coarsest_first
        # Built finest first; a coarsest-first neck is reversed on the way in and out.
        order = slice(None, None, -1) if coarsest_first else slice(None)
        in_channels, out_channels = self.in_channels[order], self.out_channels[order]
        L = self.num_levels
        conv_cfg = check_conv_cfg('ASFF', 'conv_cfg', conv_cfg)
        for channels in sorted(set(self.in_channels + [self.compress_channels])):
            check_norm_cfg('ASFF', 'norm_cfg', norm_cfg, channels, allow_none=True)
        act_cfg = check_act_cfg('ASFF', 'act_cfg', act_cfg, allow_none=True,
                                example="dict(type='LeakyReLU', negative_slope=0.1)")
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.resizers = nn.ModuleList()
        self.weight_convs = nn.ModuleList()
        self.weight_logits = nn.ModuleList()
        self.expands = nn.ModuleList()
        self.fusion_weights = AttentionMap()
        for level, channels in enumerate(in_channels):
            resizers = nn.ModuleList()
            for source, source_channels in enumerate(in_channels):
                if source == level:
                    resizers.append(nn.Identity())
                elif source > level:
                    resizers.append(ConvModule(source_channels, channels, 1, **conv))
                else:
                    pools = [nn.MaxPool2d(3, stride=2, padding=1)
                             for _ in range(level - source - 1)]
                    resizers.append(nn.Sequential(
                        *pools,
                        ConvModule(source_channels, channels, 3, stride=2, padding=1, **conv)))
            self.resizers.append(resizers)
            self.weight_convs.append(nn.ModuleList(
                ConvModule(channels, self.compress_channels, 1, **conv) for _ in range(L)))
            self.weight_logits.append(nn.Conv2d(self.compress_channels * L, L, 1))
            self.expands.append(
                ConvModule(channels, out_channels[level], 3, padding=1, **conv))

    def _check_inputs(self, inputs: Sequence[Tensor]) -> None:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != self.num_levels:
            got = len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs).__name__
            raise ValueError(f'ASFF: expected a tuple of num_levels={self.num_levels} '
                             f'feature maps, got {got}')
        for level, (x, channels) in enumerate(zip(inputs, self.in_channels)):
            check_tensor('ASFF', x, f'level {level}')
            if x.dim() != 4 or x.shape[1] != channels:
                raise ValueError(f'ASFF: level {level} must have shape (B, {channels}, H, W), '
                                 f'got {tuple(x.shape)}')
            check_positive_sizes('ASFF', x, name=f'level {level}')
        if sizes_are_symbolic():
            return
        shapes = [tuple(x.shape) for x in inputs]
        if len({s[0] for s in shapes}) > 1:
            raise ValueError(f'ASFF: every level must have the same batch size, got levels of '
                             f'shapes {shapes}')
        # Finest first: each level no larger than the one before; coarsest first: no smaller.
        order, flipped = ('finest', 'coarsest') if not self.coarsest_first else \
            ('coarsest', 'finest')
        for level in range(1, self.num_levels):
            prev, cur = shapes[level - 1][2:], shapes[level][2:]
            wrong = (cur[0] > prev[0] or cur[1] > prev[1]) if not self.coarsest_first else \
                (cur[0] < prev[0] or cur[1] < prev[1])
            if wrong:
                raise ValueError(
                    f'ASFF: levels must be given {order} first (coarsest_first='
                    f'{self.coarsest_first}); level {level} of shape {shapes[level]} does not '
                    f'follow level {level - 1} of shape {shapes[level - 1]} in that order '
                    f'(levels given {flipped} first? reverse them, or set '
                    f'coarsest_first={not self.coarsest_first})')

    @staticmethod
    def _resize(resizer: nn.Module, x: Tensor) -> Tensor:
        if isinstance(resizer, ConvModule):
            return conv_module_forward(resizer, x)
        if isinstance(resizer, nn.Sequential):
            for layer in resizer:
                x = ASFF._resize(layer, x)
            return x
        return resizer(x)

    @staticmethod
    def _nearest(x: Tensor, size) -> Tensor:
        """Nearest resizing to ``size``. torch's meta kernel of ``upsample_nearest2d``
        fails on an empty batch ("cond must be a bool", torch 2.1 to 2.14): there the
        result, which has no values, is made directly (the meta device only, so no traced,
        exported or compiled graph holds the branch)."""
        if x.device.type == 'meta' and x.shape[0] == 0:
            return x.new_empty((0, x.shape[1], *size))
        return F.interpolate(x, size=size, mode='nearest')

    def forward(self, inputs: Sequence[Tensor], return_weights: bool = False
                ) -> Union[Tuple[Tensor, ...], Tuple[Tuple[Tensor, ...], Tuple[Tensor, ...]]]:
        """Fuse the levels; with ``return_weights=True`` also the fusion weights.

        Returns:
            tuple[Tensor]: ``out[l]`` of shape ``(B, out_channels[l], H_l, W_l)``;
            with ``return_weights``, ``(outs, weights)`` where ``weights[l]``
            is ``(B, L, H_l, W_l)``, the softmax over the L sources (in the
            order of the inputs).
        """
        self._check_inputs(inputs)
        if self.coarsest_first:
            inputs = tuple(inputs)[::-1]
        outs, weights = [], []
        for level in range(self.num_levels):
            size = inputs[level].shape[-2:]
            resized = []
            for source, x in enumerate(inputs):
                y = self._resize(self.resizers[level][source], x)  # [B, C_l, h, w]
                if source != level:
                    # Always resized to the target's size (nearest; a no-op copy where
                    # the sizes already agree): a branch on the sizes would be frozen
                    # by jit.trace and ONNX export at the export size's pyramid.
                    y = self._nearest(y, size)  # [B, C_l, H_l, W_l]
                resized.append(y)
            compressed = [
                conv_module_forward(conv, y) for conv, y in zip(self.weight_convs[level], resized)
            ]
            logits = self.weight_logits[level](torch.cat(compressed, 1))  # [B, L, H_l, W_l]
            weight = self.fusion_weights(logits.softmax(
                1, dtype=accumulation_dtype(logits.dtype)).to(logits.dtype))  # [B, L, H_l, W_l]
            fused = resized[0] * weight[:, 0:1]
            for source in range(1, self.num_levels):
                fused = fused + resized[source] * weight[:, source:source + 1]  # [B, C_l, H, W]
            outs.append(conv_module_forward(self.expands[level], fused))  # [B, C_out_l, H_l, W_l]
            weights.append(weight)
        if self.coarsest_first:
            outs, weights = outs[::-1], [w.flip(1) for w in weights[::-1]]
        if return_weights:
            return tuple(outs), tuple(weights)
        return tuple(outs)
