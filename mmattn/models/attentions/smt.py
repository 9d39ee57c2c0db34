"""Scale-Aware Modulation of the Scale-Aware Modulation Transformer.

Lin et al., "Scale-Aware Modulation Meet Transformer", ICCV 2023.
https://arxiv.org/abs/2307.15569
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (AttentionMap, MapSpec, build_act, build_norm, check_positive_int,
                     check_positive_sizes, check_probability, check_tensor, norm_forward)
from .base import AttentionModule


@ROOT_MODELS.register_module()
class ScaleAwareModulation(AttentionModule):
    """Scale-Aware Modulation (SAM): multi-head mixed convolution and scale-aware aggregation.

    ``v = W_v x`` and ``s = W_s x`` are linear maps of each position. ``s`` is
    split into ``num_heads`` heads of ``C / num_heads`` channels; head ``i``
    is a depthwise convolution of kernel ``3 + 2i`` (multi-head mixed
    convolution). Scale-aware aggregation regroups the channels so that group
    ``g`` holds channel ``g`` of every head, fuses each group with a grouped
    1x1 convolution (``C / num_heads`` groups, ``C -> C * expand_ratio``),
    then BN, GELU and a 1x1 convolution back to ``C``: the modulator. The
    output is ``modulator * v``, followed by the output projection of SMT's
    attention block (``proj``, a linear map) unless ``out_proj=False``.

    The linear maps ``v``, ``s`` and ``proj`` are ``nn.Linear`` layers as in
    SMT. Both entry points run on a channels-last view: :meth:`forward` on
    ``(B, C, H, W)`` maps (the output has channels_last strides) and
    :meth:`forward_tokens` on the ``(B, H * W, C)`` tokens of SMT's blocks.
    The regrouping is folded into the aggregation's first layer (an einsum
    that reads each group's channels from the heads where they lie).

    Args:
        in_channels (int): Number of input channels C, divisible by
            ``num_heads``.
        num_heads (int): Number of heads (kernels 3, 5, ..., 1 + 2 * num_heads)
            of the mixed convolution. Default: 4.
        expand_ratio (int): Width multiplier of the aggregation's hidden layer.
            Default: 2.
        qkv_bias (bool): Whether the ``v`` and ``s`` maps have biases (SMT's
            models use biases). Default: True.
        out_proj (bool): Whether to apply SMT's output projection.
            Default: True.
        proj_drop (float): Dropout after the output projection. Default: 0.
        norm_cfg (dict): Norm of the aggregation's hidden layer.
            Default: ``dict(type='BN')``.
        act_cfg (dict): Activation of the aggregation's hidden layer.
            Default: ``dict(type='GELU')``.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Scale-Aware Modulation (SMT), ICCV 2023'
    paper_url = 'https://arxiv.org/abs/2307.15569'
    short_name = 'sam'
    family = 'smt'
    note = 'token form: `m.forward_tokens(x, (H, W))`'
    default_position = 'after_conv2'
    position_note = 'after the 3x3 conv, where a spatial mixer goes'
    _abbr_ = 'sam'
    # The modulator that scales v, per channel and position: a modulation network's
    # attention, unbounded.
    _maps_ = {'modulator': MapSpec('modulator', 'BCHW', 'spatial', None)}

    def __init__(self,
                 in_channels: int,
                 num_heads: int = 4,
                 expand_ratio: int = 2,
                 qkv_bias: bool = True,
                 out_proj: bool = True,
                 proj_drop: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        name = self.name
        self.num_heads = check_positive_int(name, 'num_heads', num_heads)
        self.expand_ratio = check_positive_int(name, 'expand_ratio', expand_ratio)
        if in_channels % num_heads:
            raise ValueError(f'{name}: in_channels={in_channels} must be divisible by '
                             f'num_heads={num_heads}')
        self.head_channels = in_channels // num_heads
        self.v = nn.Linear(in_channels, in_channels, bias=qkv_bias)
        self.s = nn.Linear(in_channels, in_channels, bias=qkv_bias)
        self.local_convs = nn.ModuleList(
            nn.Conv2d(self.head_channels, self.head_channels, 3 + 2 * i, padding=1 + i,
                      groups=self.head_channels) for i in range(num_heads))
        self.proj0 = nn.Conv2d(in_channels, in_channels * expand_ratio, 1,
                               groups=self.head_channels)
        self.bn = build_norm(name, 'norm_cfg', norm_cfg, in_channels * expand_ratio)
        self.act = build_act(name, 'act_cfg', act_cfg, "dict(type='GELU')")
        self.proj1 = nn.Conv2d(in_channels * expand_ratio, in_channels, 1)
        self.modulator = AttentionMap()
        self.proj = nn.Linear(in_channels, in_channels) if out_proj else nn.Identity()
        self.proj_drop = nn.Dropout(check_probability(name, 'proj_drop', proj_drop))

    def _modulate(self, x: Tensor) -> Tensor:
        """``modulator * v`` for ``(B, H, W, C)`` positions: a ``(B, C, H, W)`` tensor with
        channels_last strides (a new tensor, not a view: see :meth:`forward`)."""
        B, H, W, C = x.shape
        v = self.v(x)  # [B, H, W, C]
        # channels_last views: depthwise convolutions are many times faster on
        # them than on NCHW on CPU (the seed's token layout got this by accident).
        s = self.s(x).permute(0, 3, 1, 2)  # [B, C, H, W]
        s = torch.stack([
            conv(head.contiguous(memory_format=torch.channels_last))
            for conv, head in zip(self.local_convs, s.split(self.head_channels, dim=1))
        ], dim=-1)  # [B, C/heads, H, W, heads]: channel g of every head side by side
        # The grouped 1x1 convolution over the regrouped channels, as one
        # einsum that reads the heads where they are (no regrouping copy).
        weight = self.proj0.weight.view(self.head_channels, -1, self.num_heads)
        s = torch.einsum('bghwi,goi->bhwgo', s, weight).reshape(B, H, W, C * self.expand_ratio)
        # The bias added after the permute, so that the norm's input is the sum itself,
        # not a view of it (torch 2.13's inductor fails on saved views with symbolic strides).
        s = s.permute(0, 3, 1, 2) + self.proj0.bias.view(1, -1, 1, 1)  # [B, C*e, H, W]
        s = self.modulator(self.proj1(self.act(norm_forward(self.bn, s))))  # [B, C, H, W]
        return s * v.permute(0, 3, 1, 2)  # [B, C, H, W]

    def forward(self, x: Tensor) -> Tensor:
        """Modulate a feature map ``(B, C, H, W)``; same shape out (channels_last strides)."""
        self.check_input(x)
        out = self._modulate(x.permute(0, 2, 3, 1))  # [B, C, H, W]
        if isinstance(self.proj, nn.Linear):
            # The output projection as a 1x1 convolution on the channels_last map,
            # not a Linear on a permuted view: the output is then a tensor of its
            # own, not a view, which a caller may edit in place (mmdet's
            # Bottleneck adds the identity in place, also under with_cp=True,
            # where autograd refuses in-place edits of a checkpoint's view).
            out = F.conv2d(out, self.proj.weight[:, :, None, None], self.proj.bias)
        return self.proj_drop(out)

    def forward_tokens(self, x: Tensor, hw: Sequence[int]) -> Tensor:
        """Modulate tokens ``(B, N, C)`` of an ``H x W`` map (``N = H * W``, row-major),
        as SMT's blocks call it; same shape out."""
        H, W = hw
        check_tensor(self.name, x)
        if x.dim() != 3 or x.shape[2] != self.in_channels or x.shape[1] != H * W:
            raise ValueError(
                f'{self.name}: forward_tokens expected tokens of shape '
                f'(B, {H * W}, {self.in_channels}) for hw={tuple(hw)}, got {tuple(x.shape)}')
        B, N, C = x.shape
        grid = x.reshape(B, H, W, C)  # [B, H, W, C]
        check_positive_sizes('ScaleAwareModulation', grid, 'BHWC', name='forward_tokens input')
        out = self._modulate(grid).permute(0, 2, 3, 1)  # [B, H, W, C]
        return self.proj_drop(self.proj(out)).reshape(B, N, C)
