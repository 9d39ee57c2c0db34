"""Convolutional Block Attention Module.

Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018.
https://arxiv.org/abs/1807.06521
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (MapSpec, accumulation_dtype, build_act, check_norm_cfg, check_odd_kernel,
                     check_positive_int, norm_forward)
from .base import AttentionModule


def _mean(x: Tensor, dims: Tuple[int, ...]) -> Tensor:
    """The mean of ``x`` over ``dims`` (kept), as a sum scaled on the small result.

    The value of ``x.mean(dims)`` (accumulated in at least float32, so fp16 sums
    of many large activations do not overflow), but its backward is an expanded
    view of the small gradient instead of a full-size division (``mean``'s
    backward divides the expanded gradient by the count: one more pass over a
    map of the input's size).
    """
    count = 1
    for d in dims:
        count *= x.shape[d]
    total = x.sum(dims, keepdim=True, dtype=accumulation_dtype(x.dtype))
    return (total / count).to(x.dtype)


def _peak(x: Tensor, dims: Tuple[int, ...]) -> Tensor:
    """The max of ``x`` over ``dims`` (kept as size-1 dims).

    ``amax`` is the faster forward, but its backward compares ``x`` with the
    result to spread the gradient over ties (full-size temporaries); the
    max-pool and ``max(dim)`` backwards scatter to one saved index. So the
    index-based ops are used when a gradient will be taken.
    """
    if not (x.requires_grad and torch.is_grad_enabled()):
        return x.amax(dims, keepdim=True)
    if dims == (2, 3):
        return F.adaptive_max_pool2d(x, 1)
    return x.max(dims[0], keepdim=True).values


@ROOT_MODELS.register_module()
class CBAM(AttentionModule):
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

    paper = 'CBAM: Convolutional Block Attention Module, ECCV 2018'
    paper_url = 'https://arxiv.org/abs/1807.06521'
    short_name = 'cbam'
    family = 'cbam'
    note = ('any odd spatial kernel; BN after the spatial conv as in the official code '
            '(`norm_cfg=None` drops it)')
    default_position = 'after_conv3'
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
        super().__init__(in_channels, init_cfg=init_cfg)
        self.reduction = check_positive_int(self.name, 'reduction', reduction)
        min_channels = check_positive_int(self.name, 'min_channels', min_channels)
        self.kernel_size = check_odd_kernel(
            self.name, 'kernel_size', kernel_size,
            'so that the spatial map keeps its size under symmetric padding')
        norm_cfg = check_norm_cfg(self.name, 'norm_cfg', norm_cfg, 1, 'map', allow_none=True)
        self.hidden_channels = max(in_channels // reduction, min_channels)
        # Channel gate: the shared MLP.
        self.fc1 = nn.Conv2d(in_channels, self.hidden_channels, 1)
        self.act = build_act(self.name, 'act_cfg', act_cfg)
        self.fc2 = nn.Conv2d(self.hidden_channels, in_channels, 1)
        self.channel_gate = build_act(self.name, 'gate_cfg', gate_cfg, "dict(type='Sigmoid')")
        # Spatial gate.
        self.spatial_conv = nn.Conv2d(
            2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.spatial_norm = (
            build_norm_layer(norm_cfg, 1)[1] if norm_cfg is not None else nn.Identity())
        self.spatial_gate = build_act(self.name, 'gate_cfg', gate_cfg, "dict(type='Sigmoid')")

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        # Both descriptors through the shared MLP in one call, as the two
        # positions of a 1x2 map (1x1 convolutions act on each position alone);
        # summing the positions sums the two MLP outputs.
        s = torch.cat([_mean(x, (2, 3)), _peak(x, (2, 3))], 3)  # [B, C, 1, 2]
        s = self.fc2(self.act(self.fc1(s))).sum(3, keepdim=True)  # [B, C, 1, 1]
        x = x * self.channel_gate(s)  # [B, C, H, W]
        d = torch.cat([_mean(x, (1, )), _peak(x, (1, ))], 1)  # [B, 2, H, W]
        a = self.spatial_gate(norm_forward(self.spatial_norm, self.spatial_conv(d)))
        return x * a  # [B, C, H, W]
