"""Polarized self-attention.

Liu et al., "Polarized Self-Attention: Towards High-quality Pixel-wise
Regression", 2021. https://arxiv.org/abs/2107.00782

Registered as ``PolarizedSelfAttention``; never ``PSA``, which readers of
mmseg take for PSANet or pyramid split attention.
"""
from typing import Optional, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (AttentionMap, MapSpec, accumulation_dtype, build_act, build_norm, check_choice,
                     norm_forward)
from .base import AttentionModule

_MODES = ('parallel', 'sequential')


@ROOT_MODELS.register_module()
class PolarizedSelfAttention(AttentionModule):
    """Polarized self-attention: a channel-only and a spatial-only self-attention gate.

    Channel-only branch: ``q = softmax_HW(W_q x)`` (``C -> 1``), ``z = W_v x . q``
    (``C -> C/2``, summed over positions), then
    ``sigmoid(LayerNorm_C(W_z z))`` (``C/2 -> C``) gates the channels.

    Spatial-only branch: ``q = softmax_{C/2}(GAP(W_q x))`` (``C -> C/2``),
    ``z = q . W_v x`` (``C -> C/2``, summed over the C/2 channels), and
    ``sigmoid(z)`` gates the positions.

    ``mode='parallel'``: ``x * ch + x * sp``; ``mode='sequential'``:
    ``y = x * ch``, then ``y * sp(y)``. All ``W`` are 1x1 convolutions.

    The 1x1 convolutions are linear and each softmax sums to one, so the
    products are reassociated: ``W_v x . q = W_v (x . q)`` and
    ``q . W_v x = (W_v^T q) . x + q . b_v``, ``GAP(W_q x) = W_q GAP(x)``. The
    output is the paper's, but no ``C/2 x H x W`` map is ever built: the cost
    is a few reductions over ``x`` plus one ``C -> 1`` 1x1 convolution. The
    HW softmax is taken in float32 (float64 for float64 inputs), so fp16/bf16
    inputs stay finite.

    Sub-module names follow the widely used External-Attention-pytorch code
    (``ch_wv``, ``ch_wq``, ``ch_wz``, ``ln``, ``sp_wv``, ``sp_wq``).

    Args:
        in_channels (int): Number of input channels C; must be even.
        mode (str): ``'parallel'`` or ``'sequential'``. Default:
            ``'parallel'``.
        bias (bool): Whether the 1x1 convolutions have biases. The authors'
            code has none. Default: False.
        norm_cfg (dict): Norm over the C channel values of the channel
            branch. Default: LayerNorm.
        gate_cfg (dict): Gate activation of both branches. Default: Sigmoid.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Polarized Self-Attention, 2021'
    paper_url = 'https://arxiv.org/abs/2107.00782'
    short_name = 'psa'
    family = 'polarized_self_attention'
    note = "`'sequential'` too; softmaxes in fp32; no biases, as the authors' code"
    default_position = 'after_conv3'
    _abbr_ = 'polarized_sa'
    _maps_ = {'channel_gate': MapSpec('channel_probe', 'BC11', 'channel'),
              'spatial_gate': MapSpec('spatial_probe', 'B1HW', 'spatial')}

    def __init__(self,
                 in_channels: int,
                 mode: str = 'parallel',
                 bias: bool = False,
                 norm_cfg: dict = dict(type='LN'),
                 gate_cfg: dict = dict(type='Sigmoid'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        if in_channels % 2:
            raise ValueError(f'{self.name}: in_channels={in_channels} must be even '
                             '(both branches work on C/2 channels)')
        self.mode = check_choice(self.name, 'mode', mode, _MODES)
        half = in_channels // 2
        # Channel-only branch.
        self.ch_wv = nn.Conv2d(in_channels, half, 1, bias=bias)
        self.ch_wq = nn.Conv2d(in_channels, 1, 1, bias=bias)
        self.ch_wz = nn.Conv2d(half, in_channels, 1, bias=bias)
        self.ln = build_norm(self.name, 'norm_cfg', norm_cfg, in_channels, 'features',
                             "dict(type='LN')")
        # Spatial-only branch.
        self.sp_wv = nn.Conv2d(in_channels, half, 1, bias=bias)
        self.sp_wq = nn.Conv2d(in_channels, half, 1, bias=bias)
        self.gate = build_act(self.name, 'gate_cfg', gate_cfg, "dict(type='Sigmoid')")
        self.channel_probe, self.spatial_probe = AttentionMap(), AttentionMap()

    def channel_gate(self, x: Tensor) -> Tensor:
        """The channel-only gate, ``(B, C, 1, 1)``."""
        B, C = x.shape[:2]
        q = self.ch_wq(x).flatten(1)  # [B, HW]
        q = q.softmax(dim=1, dtype=accumulation_dtype(q.dtype)).to(x.dtype)  # [B, HW]
        ctx = torch.bmm(x.flatten(2), q.unsqueeze(2))  # [B, C, 1]
        z = self.ch_wz(self.ch_wv(ctx.unsqueeze(3)))  # [B, C, 1, 1]
        g = self.gate(norm_forward(self.ln, z.reshape(B, C)))  # [B, C]
        return self.channel_probe(g.reshape(B, C, 1, 1))

    def spatial_gate(self, x: Tensor) -> Tensor:
        """The spatial-only gate, ``(B, 1, H, W)``."""
        B, C, H, W = x.shape
        q = self.sp_wq(x.mean((2, 3), keepdim=True)).flatten(1)  # [B, C/2]
        q = q.softmax(dim=1, dtype=accumulation_dtype(q.dtype)).to(x.dtype)  # [B, C/2]
        u = q @ self.sp_wv.weight.flatten(1)  # [B, C]
        z = torch.bmm(u.unsqueeze(1), x.flatten(2))  # [B, 1, HW]
        if self.sp_wv.bias is not None:
            z = z + (q @ self.sp_wv.bias).reshape(B, 1, 1)
        return self.spatial_probe(self.gate(z).reshape(B, 1, H, W))

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        if self.mode == 'sequential':
            y = x * self.channel_gate(x)  # [B, C, H, W]
            return y * self.spatial_gate(y)  # [B, C, H, W]
        return x * (self.channel_gate(x) + self.spatial_gate(x))  # [B, C, H, W]
