"""CBAM as the seed writes it: pooling modules, the shared MLP called once per descriptor."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from torch import Tensor

from . import BASELINES


@BASELINES.register_module()
class CBAM(nn.Module):
    """Direct transcription of the CBAM seed (``ChannelAttention`` then
    ``SpatialAttention``); same arguments and state dict as
    :class:`mmattn.models.attentions.cbam.CBAM` (the MLP with biases and the
    BN after the spatial conv, as the official code and mmattn's defaults)."""

    def __init__(self,
                 in_channels: int,
                 reduction: int = 16,
                 min_channels: int = 1,
                 kernel_size: int = 7,
                 act_cfg: dict = dict(type='ReLU'),
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 gate_cfg: dict = dict(type='Sigmoid')) -> None:
        super().__init__()
        hidden = max(in_channels // reduction, min_channels)
        self.fc1 = nn.Conv2d(in_channels, hidden, 1)
        self.act = build_activation_layer(dict(act_cfg))
        self.fc2 = nn.Conv2d(hidden, in_channels, 1)
        self.channel_gate = build_activation_layer(dict(gate_cfg))
        self.spatial_conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_norm = (
            build_norm_layer(dict(norm_cfg), 1)[1] if norm_cfg is not None else nn.Identity())
        self.spatial_gate = build_activation_layer(dict(gate_cfg))

    def forward(self, x: Tensor) -> Tensor:
        avg_out = self.fc2(self.act(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        max_out = self.fc2(self.act(self.fc1(F.adaptive_max_pool2d(x, 1))))
        x = x * self.channel_gate(avg_out + max_out)
        avg_map = torch.mean(x, dim=1, keepdim=True)
        max_map, _ = torch.max(x, dim=1, keepdim=True)
        a = self.spatial_conv(torch.cat([avg_map, max_map], dim=1))
        return x * self.spatial_gate(self.spatial_norm(a))
