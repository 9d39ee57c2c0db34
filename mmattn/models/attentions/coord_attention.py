"""Coordinate Attention.

Hou et al., "Coordinate Attention for Efficient Mobile Network Design",
CVPR 2021. https://arxiv.org/abs/2103.02907
"""
from typing import Optional, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import AttentionMap, MapSpec, build_act, build_norm, check_positive_int, norm_forward
from .base import AttentionModule


@ROOT_MODELS.register_module()
class CoordAttention(AttentionModule):
    """Coordinate Attention: channel gates that keep one spatial direction.

    The input is averaged along W (one descriptor per row) and along H (one
    per column); the two are concatenated along the spatial axis and encoded
    together by a 1x1 convolution ``C -> mip`` with ``mip = max(min_channels,
    C // r)``, a BatchNorm (whose statistics span the rows and the columns, as
    in the official code) and h_swish. The result is split back into rows and
    columns, a 1x1 convolution per direction maps each to C channels, and
    sigmoids give ``a_h`` (B, C, H, 1) and ``a_w`` (B, C, 1, W); the output is
    ``x * a_h * a_w``. Layer names follow the official code (``conv1``,
    ``bn1``, ``conv_h``, ``conv_w``), so its state dicts load unchanged.

    Args:
        in_channels (int): Number of input (and output) channels C.
        reduction (int): The paper's reduction ratio r. Default: 32.
        min_channels (int): Lower bound on the hidden width mip. Default: 8.
        norm_cfg (dict): Norm after the shared 1x1 convolution. Default: BN.
        act_cfg (dict): Activation after it. Default: h_swish (mmcv's HSwish).
        gate_cfg (dict): Activation of both gates. Default: Sigmoid.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None (PyTorch's default initialization).
    """

    paper = 'Coordinate Attention, CVPR 2021'
    paper_url = 'https://arxiv.org/abs/2103.02907'
    short_name = 'ca'
    family = 'coord_attention'
    note = 'mip = max(8, C/32), h_swish'
    default_position = 'after_conv3'
    _abbr_ = 'coord_att'
    _maps_ = {'h_gate': MapSpec('h_gate', 'BCH1', 'profile'),
              'w_gate': MapSpec('w_gate', 'BC1W', 'profile')}

    def __init__(self,
                 in_channels: int,
                 reduction: int = 32,
                 min_channels: int = 8,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='HSwish'),
                 gate_cfg: dict = dict(type='Sigmoid'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        self.reduction = check_positive_int(self.name, 'reduction', reduction)
        min_channels = check_positive_int(self.name, 'min_channels', min_channels)
        self.hidden_channels = max(min_channels, in_channels // reduction)  # the paper's mip
        self.conv1 = nn.Conv2d(in_channels, self.hidden_channels, 1)
        self.bn1 = build_norm(self.name, 'norm_cfg', norm_cfg, self.hidden_channels)
        self.act = build_act(self.name, 'act_cfg', act_cfg, "dict(type='HSwish')")
        self.conv_h = nn.Conv2d(self.hidden_channels, in_channels, 1)
        self.conv_w = nn.Conv2d(self.hidden_channels, in_channels, 1)
        self.gate = build_act(self.name, 'gate_cfg', gate_cfg, "dict(type='Sigmoid')")
        self.h_gate, self.w_gate = AttentionMap(), AttentionMap()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        h = x.shape[2]
        # Rows then columns along one axis: [B, C, H + W, 1], built by the
        # concatenation itself rather than as a view of it (torch 2.13's inductor
        # fails on views with symbolic strides saved for the backward).
        y = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], 2)
        y = self.act(norm_forward(self.bn1, self.conv1(y)))  # [B, mip, H + W, 1]
        a_h = self.h_gate(self.gate(self.conv_h(y[:, :, :h])))  # [B, C, H, 1]
        a_w = self.w_gate(self.gate(self.conv_w(y[:, :, h:])).transpose(2, 3))  # [B, C, 1, W]
        return x * a_h * a_w  # [B, C, H, W]
