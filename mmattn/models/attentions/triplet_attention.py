"""Triplet attention.

Misra et al., "Rotate to Attend: Convolutional Triplet Attention Module",
WACV 2021. https://arxiv.org/abs/2010.03045
"""
from typing import Optional, Tuple, Union

import torch
from mmcv.cnn import ConvModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (AttentionMap, MapSpec, build_act, check_norm_cfg, check_odd_kernel,
                     conv_module_forward)
from .base import AttentionModule


def _zpool(x: Tensor, dim: int, order: Tuple[int, ...] = (0, 1, 2, 3)) -> Tensor:
    """Max and mean of ``x`` over ``dim`` (kept as a size-1 dim, then moved by ``order`` to
    dim 1), concatenated as two maps on dim 1 (max first).

    A concatenation of the two reductions, not a stack or a transposed view of
    one: the convolution's input is then a tensor of its own, which torch
    2.13's inductor needs when the sizes are symbolic (it fails on saved views
    whose strides it cannot order).
    """
    if x.requires_grad and torch.is_grad_enabled():
        # max's index-based backward makes fewer full-size temporaries than
        # amax's (which compares x with the result); amax is the faster forward.
        peak = x.max(dim, keepdim=True).values
    else:
        peak = x.amax(dim, keepdim=True)
    return torch.cat((peak.permute(order), x.mean(dim, keepdim=True).permute(order)), dim=1)


@ROOT_MODELS.register_module()
class TripletAttention(AttentionModule):
    """Triplet attention: three Z-pool gates over the (C, W), (H, C) and (H, W) planes.

    Each branch looks at the input "rotated" so that one dimension becomes the
    channel axis, Z-pools it (max and mean over that dimension, stacked as two
    maps, max first as in the official code), runs a ``k x k`` convolution
    (2 -> 1, no bias) with BatchNorm and a sigmoid on the remaining plane, and
    reweights the input. The three reweighted tensors are averaged (two when
    ``no_spatial=True``).

    The rotations are never materialised: Z-pool is a reduction of the
    original tensor along dim 2 (C-W branch), dim 3 (H-C branch) or dim 1 (H-W
    branch), the H-C branch convolves a transposed copy of its small pooled
    map, and each gate broadcasts back onto ``x`` as ``(B, C, 1, W)``,
    ``(B, C, H, 1)`` or ``(B, 1, H, W)``. The output is therefore
    ``x * (g_cw + g_hc + g_hw) / 3``, computed without copies of ``x``, and
    equal to the official permute-based implementation.

    Args:
        in_channels (int): Number of input channels C. The module's parameters
            do not depend on it; it is checked against the input.
        kernel_size (int): Odd size of the square convolution of every
            branch. Default: 7.
        no_spatial (bool): Drop the H-W (spatial) branch and average the two
            cross-dimension branches. Default: False.
        norm_cfg (dict, optional): Norm after each convolution. Default:
            BatchNorm with momentum 0.01 as in the official code; None for no
            norm (the convolutions then get a bias).
        gate_cfg (dict): Gate activation. Default: Sigmoid.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Rotate to Attend: Triplet Attention, WACV 2021'
    paper_url = 'https://arxiv.org/abs/2010.03045'
    short_name = 'triplet'
    family = 'triplet_attention'
    note = 'Z-pools are reductions of x; no permuted copies'
    default_position = 'after_conv3'
    _abbr_ = 'triplet'
    _maps_ = {'cw_gate': MapSpec('cw_gate', 'B1CW', 'profile'),
              'hc_gate': MapSpec('hc_gate', 'B1HC', 'profile'),
              'hw_gate': MapSpec('hw_gate', 'B1HW', 'spatial')}

    def __init__(self,
                 in_channels: int,
                 kernel_size: int = 7,
                 no_spatial: bool = False,
                 norm_cfg: Optional[dict] = dict(type='BN', momentum=0.01),
                 gate_cfg: dict = dict(type='Sigmoid'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        self.kernel_size = check_odd_kernel(self.name, 'kernel_size', kernel_size,
                                            'so that each gate keeps the size of its plane')
        norm_cfg = check_norm_cfg(self.name, 'norm_cfg', norm_cfg, 1, 'map',
                                  allow_none=True)
        self.no_spatial = bool(no_spatial)

        def branch() -> ConvModule:
            return ConvModule(
                2, 1, kernel_size, padding=kernel_size // 2,
                norm_cfg=None if norm_cfg is None else dict(norm_cfg), act_cfg=None)

        self.cw = branch()
        self.hc = branch()
        if not self.no_spatial:
            self.hw = branch()
        self.gate = build_act(self.name, 'gate_cfg', gate_cfg, "dict(type='Sigmoid')")
        self.cw_gate, self.hc_gate, self.hw_gate = AttentionMap(), AttentionMap(), AttentionMap()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        scale = 1.0 / (2 if self.no_spatial else 3)
        # C-W branch: Z-pool over H; the (C, W) plane is convolved as is.
        z = _zpool(x, 2, (0, 2, 1, 3))  # [B, 2, C, W]
        g_cw = self.cw_gate(self.gate(conv_module_forward(self.cw, z)))  # [B, 1, C, W]
        g_cw = g_cw.transpose(1, 2) * scale  # [B, C, 1, W]
        # H-C branch: Z-pool over W; the official code convolves the (H, C)
        # plane, so convolve the small pooled map transposed.
        z = _zpool(x, 3, (0, 3, 2, 1))  # [B, 2, H, C]
        g_hc = self.hc_gate(self.gate(conv_module_forward(self.hc, z)))  # [B, 1, H, C]
        g_hc = g_hc.permute(0, 3, 2, 1) * scale  # [B, C, H, 1]
        gates = g_cw + g_hc  # [B, C, H, W]
        if not self.no_spatial:
            # H-W branch: Z-pool over C.
            z = _zpool(x, 1)  # [B, 2, H, W]
            g_hw = self.hw_gate(self.gate(conv_module_forward(self.hw, z)))  # [B, 1, H, W]
            gates = gates + g_hw * scale  # [B, C, H, W]
        return x * gates  # [B, C, H, W]
