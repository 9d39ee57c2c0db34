"""DANet's PAM, CAM and their sum as the official code writes them: the speed/memory baselines.

Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019.
https://arxiv.org/abs/1809.02983

Straightforward transcriptions: three 1x1 convolutions, the full ``(H*W)^2``
energy matrix, softmax, ``torch.bmm``; no fused kernels, no float32 upcast.
Same arguments and ``state_dict`` as :mod:`mmattn.models.attentions.danet`
(``impl`` is accepted and ignored).
"""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from . import BASELINES


@BASELINES.register_module(name='DANetPAM')
class DANetPAMBaseline(BaseModule):
    """Position attention, transcribed: ``gamma * V softmax(Q^T K)^T + X``."""

    def __init__(self,
                 in_channels: int,
                 reduction: int = 8,
                 min_channels: int = 1,
                 impl: str = 'auto',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        qk_channels = max(in_channels // reduction, min_channels)
        self.query_conv = nn.Conv2d(in_channels, qk_channels, 1)
        self.key_conv = nn.Conv2d(in_channels, qk_channels, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        proj_query = self.query_conv(x).view(B, -1, H * W).permute(0, 2, 1)  # [B, N, C']
        proj_key = self.key_conv(x).view(B, -1, H * W)  # [B, C', N]
        energy = torch.bmm(proj_query, proj_key)  # [B, N, N]
        attention = torch.softmax(energy, dim=-1)
        proj_value = self.value_conv(x).view(B, -1, H * W)  # [B, C, N]
        out = torch.bmm(proj_value, attention.permute(0, 2, 1))  # [B, C, N]
        return self.gamma * out.view(B, C, H, W) + x


@BASELINES.register_module(name='DANetCAM')
class DANetCAMBaseline(BaseModule):
    """Channel attention, transcribed: ``gamma * softmax(rowmax(E) - E) X + X``."""

    def __init__(self,
                 in_channels: int,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        proj_query = x.view(B, C, -1)  # [B, C, N]
        proj_key = x.view(B, C, -1).permute(0, 2, 1)  # [B, N, C]
        energy = torch.bmm(proj_query, proj_key)  # [B, C, C]
        energy_new = torch.max(energy, -1, keepdim=True)[0].expand_as(energy) - energy
        attention = torch.softmax(energy_new, dim=-1)
        out = torch.bmm(attention, x.view(B, C, -1))  # [B, C, N]
        return self.gamma * out.view(B, C, H, W) + x


@BASELINES.register_module(name='DualAttention')
class DualAttentionBaseline(BaseModule):
    """Both branches on the input, one residual: ``PAM(x) + CAM(x) - x``."""

    def __init__(self,
                 in_channels: int,
                 reduction: int = 8,
                 min_channels: int = 1,
                 impl: str = 'auto',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.pam = DANetPAMBaseline(in_channels, reduction, min_channels)
        self.cam = DANetCAMBaseline(in_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.pam(x) + self.cam(x) - x
