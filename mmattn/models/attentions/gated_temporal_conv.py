"""Gated temporal convolution of MTGNN: two dilated inception layers, tanh times sigmoid.

Wu et al., "Connecting the Dots: Multivariate Time Series Forecasting with Graph
Neural Networks", KDD 2020. https://arxiv.org/abs/2005.11650
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (check_act_cfg, check_int_sequence, check_positive_int, check_positive_sizes,
                     check_tensor)
from .base import AttentionBase


@ROOT_MODELS.register_module()
class GatedTemporalConv(AttentionBase):
    """MTGNN's temporal convolution module on ``(B, C, N, T)`` (N series of length T).

    Each of the two dilated inception layers (filter and gate) runs parallel
    ``(1, k)`` convolutions along T, ``k`` in ``kernel_sizes``, dilation ``d``,
    ``C_out / len(kernel_sizes)`` output channels each; every branch is
    cropped to its last ``T - d * (k_max - 1)`` steps (the length of the
    largest kernel's output) and the branches are concatenated along the
    channels. The output is ``tanh(filter) * sigmoid(gate)``.

    MTGNN's form (``seq_len=None``) returns ``(B, C_out, N, T - d * (k_max - 1))``.
    The seed's form (``seq_len`` given) restores the length: each inception
    layer ends with an MLP along time, ``Linear(T - d * (k_max - 1),
    mlp_channels) -> ReLU -> Linear(mlp_channels, seq_len)``, and the input
    must have ``T = seq_len``.

    Each branch is convolved over only the last ``T - d * (k_max - k)`` steps
    it needs, so the crop costs nothing.

    Args:
        in_channels (int): Number of input channels C.
        out_channels (int, optional): Number of output channels, divisible by
            ``len(kernel_sizes)``. Default: None, meaning ``in_channels``.
        dilation (int): Dilation d of the temporal convolutions. Default: 1.
        kernel_sizes (Sequence[int]): Temporal kernel sizes of the inception
            branches. Default: ``(2, 3, 6, 7)``.
        seq_len (int, optional): Input length T to restore with the MLP.
            Default: None (MTGNN's form, no MLP).
        mlp_channels (int, optional): Hidden width of the MLP. Default: None,
            meaning ``in_channels`` (as in the seed).
        act_cfg (dict): Activation of the MLP. Default: ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'MTGNN: Connecting the Dots, KDD 2020'
    paper_url = 'https://arxiv.org/abs/2005.11650'
    short_name = 'gtc'
    family = 'mtgnn'
    note = "`(B, C, N, T)`; `seq_len` adds the seed's length-restoring MLP"
    _abbr_ = 'gtc'
    _layout_ = 'BCNT'

    def __init__(self,
                 in_channels: int,
                 out_channels: Optional[int] = None,
                 dilation: int = 1,
                 kernel_sizes: Sequence[int] = (2, 3, 6, 7),
                 seq_len: Optional[int] = None,
                 mlp_channels: Optional[int] = None,
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = self.name
        self.in_channels = check_positive_int(name, 'in_channels', in_channels)
        out_channels = in_channels if out_channels is None else out_channels
        self.out_channels = check_positive_int(name, 'out_channels', out_channels)
        self.dilation = check_positive_int(name, 'dilation', dilation)
        self.kernel_sizes = check_int_sequence(name, 'kernel_sizes', kernel_sizes)
        if out_channels % len(self.kernel_sizes):
            raise ValueError(f'{name}: out_channels={out_channels} must be divisible by '
                             f'len(kernel_sizes)={len(self.kernel_sizes)}')
        # Shortest input the largest dilated kernel can cover.
        self.min_len = dilation * (max(self.kernel_sizes) - 1) + 1
        self.seq_len = None if seq_len is None else check_positive_int(name, 'seq_len', seq_len)
        if mlp_channels is not None:
            check_positive_int(name, 'mlp_channels', mlp_channels)
        if seq_len is not None and seq_len < self.min_len:
            raise ValueError(
                f'{name}: seq_len={seq_len} is shorter than the dilated kernels cover: '
                f'dilation * (max(kernel_sizes) - 1) + 1 = {self.min_len}')
        act_cfg = check_act_cfg(name, 'act_cfg', act_cfg)
        branch_channels = out_channels // len(self.kernel_sizes)
        self.filter_convs = nn.ModuleList(
            nn.Conv2d(in_channels, branch_channels, (1, k), dilation=(1, dilation))
            for k in self.kernel_sizes)
        self.gate_convs = nn.ModuleList(
            nn.Conv2d(in_channels, branch_channels, (1, k), dilation=(1, dilation))
            for k in self.kernel_sizes)
        if seq_len is None:
            self.filter_mlp = nn.Identity()
            self.gate_mlp = nn.Identity()
        else:
            hidden = in_channels if mlp_channels is None else mlp_channels
            self.filter_mlp = self._mlp(seq_len - self.min_len + 1, hidden, seq_len, act_cfg)
            self.gate_mlp = self._mlp(seq_len - self.min_len + 1, hidden, seq_len, act_cfg)

    @staticmethod
    def _mlp(in_len: int, hidden: int, out_len: int, act_cfg: dict) -> nn.Sequential:
        return nn.Sequential(
            nn.Linear(in_len, hidden), build_activation_layer(act_cfg.copy()),
            nn.Linear(hidden, out_len))

    def _inception(self, x: Tensor, convs: nn.ModuleList) -> Tensor:
        k_max = max(self.kernel_sizes)
        # Branch k's last T - d*(k_max-1) outputs read only the last
        # T - d*(k_max-k) inputs: convolve those, no crop needed after.
        return torch.cat([
            conv(x[..., self.dilation * (k_max - k):])
            for conv, k in zip(convs, self.kernel_sizes)
        ], dim=1)  # [B, C_out, N, T - d*(k_max-1)]

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, N, T)`` in; ``(B, C_out, N, T')`` out, ``T' = seq_len`` or
        ``T - dilation * (max(kernel_sizes) - 1)``."""
        check_tensor(self.name, x)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'{self.name}: expected an input of shape '
                             f'(B, {self.in_channels}, N, T), got {tuple(x.shape)}')
        check_positive_sizes('GatedTemporalConv', x, 'BCNT', 'N')
        T = x.shape[-1]
        if T < self.min_len:
            raise ValueError(
                f'{self.name}: input length T={T} is shorter than the dilated kernels '
                f'cover: dilation * (max(kernel_sizes) - 1) + 1 = {self.min_len}')
        if self.seq_len is not None and T != self.seq_len:
            raise ValueError(f'{self.name}: input length T={T} must equal '
                             f'seq_len={self.seq_len} (the MLP restores that length)')
        filt = self.filter_mlp(self._inception(x, self.filter_convs))  # [B, C_out, N, T']
        gate = self.gate_mlp(self._inception(x, self.gate_convs))  # [B, C_out, N, T']
        return torch.tanh(filt) * torch.sigmoid(gate)
