"""Spatial and channel synergistic attention.

Si et al., "SCSA: Exploring the Synergistic Effects Between Spatial and
Channel Attention", 2024. https://arxiv.org/abs/2407.05128
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmattn.compat import is_exporting, sym_min
from mmattn.registry import ROOT_MODELS
from ..utils import (AttentionMap, MapSpec, build_norm, check_choice, check_int_sequence,
                     check_positive_int, check_probability, norm_forward)
from .base import AttentionModule

_DOWN_SAMPLE_MODES = ('avg_pool', 'max_pool')
_GATES = ('sigmoid', 'softmax')


def _windows(length: Union[int, Tensor], window: int) -> Tuple[Union[int, Tensor], ...]:
    """``(n, k)``: ``n`` windows of ``k = min(window, length)`` along an axis (floor mode).

    The same formula in every mode, written so that no mode freezes the size
    it was exported at: in eager both are ints; under ``torch.jit.trace`` and
    ONNX export the sizes are traced 0-dim tensors, so the min is a tensor op
    (Python's ``min`` would bake the export size's window into the graph);
    under ``torch.export`` ``n`` becomes an unbacked int, because a backed one
    would be specialised to the example's value when that is 1 (a side
    shorter than two windows), and to ``>= 2`` otherwise.
    """
    if isinstance(length, Tensor):
        k = torch.clamp(length, max=window)
        return length // k, k
    k = sym_min(length, window)
    n = length // k
    if is_exporting():
        n = torch.scalar_tensor(n, dtype=torch.long).item()
        torch._check(n >= 1)
        torch._check(n * k <= length)
    return n, k


def _pool_axis(s: Tensor, dim: int, window: int, mode: str) -> Tensor:
    """Average or max of ``s`` over non-overlapping windows along ``dim`` (floor mode)."""
    shape = s.shape
    n, k = _windows(shape[dim], window)
    # reshape with the full size list, not unflatten, whose ONNX export fixes the sizes
    s = s[(slice(None), ) * dim + (slice(0, n * k), )]
    s = s.reshape(tuple(shape[:dim]) + (n, k) + tuple(shape[dim + 1:]))
    return s.amax(dim + 1) if mode == 'max_pool' else s.mean(dim + 1)


@ROOT_MODELS.register_module()
class SCSA(AttentionModule):
    """SCSA: shareable multi-semantic spatial attention, then progressive channel self-attention.

    SMSA: the input is averaged over W (giving a ``(B, C, H)`` profile) and
    over H (``(B, C, W)``). Each profile is split into 4 channel groups of
    ``C/4``; group ``i`` goes through a depthwise 1D convolution of kernel
    ``group_kernel_sizes[i]`` (the same four convolutions for both profiles),
    then GroupNorm(4) (one per profile) and a sigmoid give ``a_h`` and
    ``a_w``; ``s = x * a_h * a_w``.

    PCSA: ``s`` is pooled in non-overlapping ``window_size`` windows,
    normalised with GroupNorm(1), and depthwise 1x1 convolutions give q, k, v.
    Per head (``head_dim = C / head_num`` channels), a channel-to-channel
    attention ``softmax(q k^T * head_dim**-0.5)`` (``head_dim x head_dim``)
    mixes v; the mean over the pooled positions and a sigmoid give a channel
    gate ``c``. The output is ``s * c``. The mean over positions is taken
    before multiplying by the attention (the same value, as both are linear).

    Small inputs: a side shorter than ``window_size`` is pooled whole, so the
    window is ``(min(window_size, H), min(window_size, W))`` with the same
    stride. A side at least as long as the window is pooled as in the
    official code (floor mode: trailing rows or columns that do not fill a
    window are left out of the channel statistics, not of the output).

    ``down_sample_mode='recombination'`` is refused: the official code selects
    a ``space_to_chans`` method it never defines (followed by a
    ``C * window_size**2 -> C`` 1x1 convolution, 3.2 M parameters at C=256),
    so there is no reference for its channel order or its edge handling.

    The argument and sub-module names follow the official code, so its
    ``scsa_cfg`` dicts and checkpoints carry over.

    Args:
        in_channels (int): Number of input channels C; must be divisible by 4
            and by ``head_num``.
        head_num (int): Number of heads of the channel self-attention.
            Default: 1 (the official ResNet setting).
        window_size (int): Side of the pooling window of PCSA, or -1 for
            global average pooling (as in the official code). Default: 7.
        group_kernel_sizes (Sequence[int]): Four odd kernel sizes of the
            depthwise 1D convolutions of the channel groups.
            Default: (3, 5, 7, 9).
        qkv_bias (bool): Whether q, k, v have biases. Default: False.
        down_sample_mode (str): ``'avg_pool'`` or ``'max_pool'``.
            Default: ``'avg_pool'``.
        attn_drop_ratio (float): Dropout on the channel attention. Default: 0.
        gate_layer (str): ``'sigmoid'`` (the paper) or ``'softmax'`` (over
            positions for SMSA, over channels for PCSA, as the official
            option). Default: ``'sigmoid'``.
        spatial_norm_cfg (dict): Norm of the SMSA profiles. Default:
            GroupNorm with 4 groups.
        channel_norm_cfg (dict): Norm of the pooled map in PCSA. Default:
            GroupNorm with 1 group.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'SCSA: Spatial and Channel Synergistic Attention, 2024'
    paper_url = 'https://arxiv.org/abs/2407.05128'
    short_name = 'scsa'
    family = 'scsa'
    note = ("works below its window (5x5, 1x1); `down_sample_mode='recombination'` is rejected: the"
            ' official code calls a function it never defines')
    default_position = 'after_conv2'
    position_note = 'after the 3x3 conv, as the official ResNet code puts it'
    _abbr_ = 'scsa'
    # SMSA's gates per row and per column, PCSA's channel attention and channel gate.
    _maps_ = {'h_gate': MapSpec('h_gate', 'BCH1', 'profile'),
              'w_gate': MapSpec('w_gate', 'BC1W', 'profile'),
              'channel_attention': MapSpec('channel_attention', 'BSIJ', 'matrix', 'softmax', 'J'),
              'channel_gate': MapSpec('ca_gate', 'BC11', 'channel')}

    def __init__(self,
                 in_channels: int,
                 head_num: int = 1,
                 window_size: int = 7,
                 group_kernel_sizes: Sequence[int] = (3, 5, 7, 9),
                 qkv_bias: bool = False,
                 down_sample_mode: str = 'avg_pool',
                 attn_drop_ratio: float = 0.,
                 gate_layer: str = 'sigmoid',
                 spatial_norm_cfg: dict = dict(type='GN', num_groups=4),
                 channel_norm_cfg: dict = dict(type='GN', num_groups=1),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        self.head_num = check_positive_int(self.name, 'head_num', head_num)
        if in_channels % 4:
            raise ValueError(f'{self.name}: in_channels={in_channels} must be divisible by 4 '
                             '(SMSA splits the channels into 4 groups)')
        if in_channels % head_num:
            raise ValueError(f'{self.name}: in_channels={in_channels} must be divisible by '
                             f'head_num={head_num}')
        if window_size != -1 or isinstance(window_size, bool):
            check_positive_int(self.name, 'window_size', window_size)
        self.window_size = window_size
        group_kernel_sizes = check_int_sequence(self.name, 'group_kernel_sizes', group_kernel_sizes,
                                                length=4)
        if any(k % 2 == 0 for k in group_kernel_sizes):
            raise ValueError(f'{self.name}: group_kernel_sizes={group_kernel_sizes} must be '
                             'odd, so that the convolutions keep the profile length')
        self.group_kernel_sizes = group_kernel_sizes
        if down_sample_mode == 'recombination':
            raise ValueError(
                f"{self.name}: down_sample_mode='recombination' is not supported: the official "
                "code never defines it; use 'avg_pool' or 'max_pool'")
        self.down_sample_mode = check_choice(self.name, 'down_sample_mode', down_sample_mode,
                                             _DOWN_SAMPLE_MODES)
        check_choice(self.name, 'gate_layer', gate_layer, _GATES)
        attn_drop_ratio = check_probability(self.name, 'attn_drop_ratio', attn_drop_ratio)

        self.head_dim = in_channels // head_num
        self.scale = self.head_dim**-0.5
        self.group_channels = gc = in_channels // 4

        # SMSA: the four depthwise convolutions are shared by both profiles.
        self.local_dwc, self.global_dwc_s, self.global_dwc_m, self.global_dwc_l = (
            nn.Conv1d(gc, gc, k, padding=k // 2, groups=gc) for k in group_kernel_sizes)
        example = "dict(type='GN', num_groups=4)"
        self.norm_h = build_norm(self.name, 'spatial_norm_cfg', spatial_norm_cfg, in_channels,
                                 'profile', example)
        self.norm_w = build_norm(self.name, 'spatial_norm_cfg', spatial_norm_cfg, in_channels,
                                 'profile', example)
        self.sa_gate = nn.Softmax(dim=2) if gate_layer == 'softmax' else nn.Sigmoid()
        self.h_gate, self.w_gate = AttentionMap(), AttentionMap()

        # PCSA
        self.norm = build_norm(self.name, 'channel_norm_cfg', channel_norm_cfg, in_channels, 'map',
                               "dict(type='GN', num_groups=1)")
        self.q = nn.Conv2d(in_channels, in_channels, 1, bias=qkv_bias, groups=in_channels)
        self.k = nn.Conv2d(in_channels, in_channels, 1, bias=qkv_bias, groups=in_channels)
        self.v = nn.Conv2d(in_channels, in_channels, 1, bias=qkv_bias, groups=in_channels)
        self.attn_drop = nn.Dropout(attn_drop_ratio)
        self.channel_attention = AttentionMap()
        self.ca_gate = nn.Softmax(dim=1) if gate_layer == 'softmax' else nn.Sigmoid()

    def _profile_gate(self, p: Tensor, norm: nn.Module) -> Tensor:
        """SMSA gate of a ``(B, C, L)`` profile."""
        groups = p.split(self.group_channels, dim=1)  # 4 x [B, C/4, L]
        p = torch.cat((self.local_dwc(groups[0]), self.global_dwc_s(groups[1]),
                       self.global_dwc_m(groups[2]), self.global_dwc_l(groups[3])), dim=1)
        # GroupNorm over groups of one value (C=4, batch 1, a side of 1 pixel)
        # is well defined (its bias); norm_forward does not refuse it.
        return self.sa_gate(norm_forward(norm, p))  # [B, C, L]

    def _down_sample(self, s: Tensor) -> Tensor:
        if self.window_size == -1:
            return s.mean((2, 3), keepdim=True)  # [B, C, 1, 1]
        # A side shorter than the window is pooled whole (the official
        # fixed window gives an empty map there). The window is separable:
        # rows, then columns.
        s = _pool_axis(s, 2, self.window_size, self.down_sample_mode)  # [B, C, H', W]
        return _pool_axis(s, 3, self.window_size, self.down_sample_mode)  # [B, C, H', W']

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        B, C = x.shape[:2]
        # SMSA
        a_h = self.h_gate(self._profile_gate(x.mean(3), self.norm_h).unsqueeze(3))  # [B, C, H, 1]
        a_w = self.w_gate(self._profile_gate(x.mean(2), self.norm_w).unsqueeze(2))  # [B, C, 1, W]
        s = x * a_h * a_w  # [B, C, H, W]

        # PCSA
        y = norm_forward(self.norm, self._down_sample(s))  # [B, C, H', W']
        shape = (B, self.head_num, self.head_dim, y.shape[2] * y.shape[3])
        q = self.q(y).reshape(shape)  # [B, heads, head_dim, N]
        k = self.k(y).reshape(shape)  # [B, heads, head_dim, N]
        v = self.v(y).reshape(shape).mean(3, keepdim=True)  # [B, heads, head_dim, 1]
        attn = (q @ k.transpose(2, 3)) * self.scale  # [B, heads, head_dim, head_dim]
        attn = self.attn_drop(self.channel_attention(attn.softmax(dim=-1)))
        c = (attn @ v).reshape(B, C, 1, 1)  # [B, C, 1, 1]
        return s * self.ca_gate(c)  # [B, C, H, W]
