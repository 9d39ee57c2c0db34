"""Convolutional Block Attention Module.

Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
https://arxiv.org/abs/1807.06521
"""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import MapSpec, check_feature_map, check_positive_int


@ROOT_MODELS.register_module()
class CBAM(BaseModule):
    """CBAM: a channel gate followed by a spatial gate.

    Channel gate: the average- and the max-pooled channel descriptors go
    through one shared MLP ``C -> C/r -> C`` (1x1 convolutions with biases, as
    in the official code); the two outputs are summed and a sigmoid gives a
    weight per channel. Spatial gate, on the channel-gated map: the mean and the
    max over channels are concatenated (in that order, as in the paper's
    equation; the official code puts the max first) into a 2-channel map, a
    ``k x k`` convolution without bias gives one logit per position, optionally
    normalized, and a sigmoid gives a weight per position.

    The official code follows the spatial convolution with a BatchNorm (its
    ``BasicConv`` has ``bn=True``), and the paper's results and parameter
    counts come from that code, so BN is the default here (with mmcv's
    momentum 0.1; the official code uses ``momentum=0.01``); set
    ``norm_cfg=None`` for the BN-free form of the paper's equation (and of the
    seed).

    Args:
        in_channels (int): Number of input channels C.
        reduction (int): The paper's reduction ratio r of the shared MLP: the
            hidden width is ``max(C // r, min_channels)``. Default: 16.
        min_channels (int): Lower bound on the hidden width. Default: 1.
        kernel_size (int): Odd kernel size k of the spatial convolution.
            Default: 7.
        act_cfg (dict): Activation inside the MLP. Default: ReLU.
        norm_cfg (dict, optional): Norm after the spatial convolution, None
            for none. Default: BN.
        gate_cfg (dict): Activation of both gates. Default: Sigmoid.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None (PyTorch's default initialization).
    """

    _abbr_ = 'cbam'
    _maps_ = {'channel_gate': MapSpec('channel_gate', 'BC11', 'channel'),
              'spatial_gate': MapSpec('spatial_gate', 'B1HW', 'spatial')}

    def __init__(self,
                 in_channels: int,
                 reduction: int = 16,
                 min_channels: int = 1,
                 kernel_size: int = 7,
                 act_cfg: dict = dict(type='ReLU'),
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 gate_cfg: dict = dict(type='Sigmoid'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_positive_int('CBAM', 'in_channels', in_channels)
        self.reduction = check_positive_int('CBAM', 'reduction', reduction)
        min_channels = check_positive_int('CBAM', 'min_channels', min_channels)
        self.kernel_size = check_positive_int('CBAM', 'kernel_size', kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f'CBAM: kernel_size={kernel_size} must be odd, so that the '
                             'spatial map keeps its size under symmetric padding')
        self.hidden_channels = max(in_channels // reduction, min_channels)
        # Channel gate: the shared MLP.
        self.fc1 = nn.Conv2d(in_channels, self.hidden_channels, 1)
        self.act = build_activation_layer(act_cfg.copy())
        self.fc2 = nn.Conv2d(self.hidden_channels, in_channels, 1)
        self.channel_gate = build_activation_layer(gate_cfg.copy())
        # Spatial gate.
        self.spatial_conv = nn.Conv2d(
            2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_norm = (
            build_norm_layer(norm_cfg, 1)[1] if norm_cfg is not None else nn.Identity())
        self.spatial_gate = build_activation_layer(gate_cfg.copy())

    def forward(self, x: Tensor) -> Tensor:
        check_feature_map('CBAM', x, self.in_channels)
        # Both descriptors through the MLP in one call, stacked in the batch.
        s = torch.cat(
            [x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)])  # [2B, C, 1, 1]
        s = self.fc2(self.act(self.fc1(s)))  # [2B, C, 1, 1]
        s_avg, s_max = s.chunk(2)  # [B, C, 1, 1] each
        x = x * self.channel_gate(s_avg + s_max)  # [B, C, H, W]
        d = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)  # [B, 2, H, W]
        a = self.spatial_gate(self.spatial_norm(self.spatial_conv(d)))  # [B, 1, H, W]
        return x * a  # [B, C, H, W]
