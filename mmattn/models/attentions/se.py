"""Squeeze-and-Excitation.

Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018.
https://arxiv.org/abs/1709.01507
"""
from typing import Optional, Union

import torch.nn as nn
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import MapSpec, build_act, check_positive_int
from .base import AttentionModule


@ROOT_MODELS.register_module()
class SE(AttentionModule):
    """Squeeze-and-Excitation channel gate.

    Squeeze: global average pooling to one value per channel. Excitation: a
    bottleneck of two fully connected layers, ``C -> C/r -> C``, with an
    activation between them and a sigmoid gate after them. The input is scaled
    channel-wise by the gate. The fully connected layers are 1x1 convolutions
    on the ``(B, C, 1, 1)`` descriptor, with biases as in the paper (its
    28.09 M parameters for SE-ResNet-50 count them).

    Args:
        in_channels (int): Number of input channels C.
        reduction (int): The paper's reduction ratio r: the hidden width is
            ``C // r``. Default: 16.
        min_channels (int): Lower bound on the hidden width, so that small C
            still have a bottleneck of at least this many units. Default: 1.
        bias (bool): Whether the fully connected layers have biases.
            Default: True.
        act_cfg (dict): Activation between the two layers. Default: ReLU.
        gate_cfg (dict): Gate activation. Default: Sigmoid.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None (PyTorch's default initialization).
    """

    paper = 'Squeeze-and-Excitation Networks, CVPR 2018'
    paper_url = 'https://arxiv.org/abs/1709.01507'
    short_name = 'se'
    family = 'se'
    note = 'FCs with biases, as the paper counts them'
    default_position = 'after_conv3'
    _abbr_ = 'se'
    _maps_ = {'channel_gate': MapSpec('gate', 'BC11', 'channel')}

    def __init__(self,
                 in_channels: int,
                 reduction: int = 16,
                 min_channels: int = 1,
                 bias: bool = True,
                 act_cfg: dict = dict(type='ReLU'),
                 gate_cfg: dict = dict(type='Sigmoid'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        self.reduction = check_positive_int(self.name, 'reduction', reduction)
        min_channels = check_positive_int(self.name, 'min_channels', min_channels)
        self.hidden_channels = max(in_channels // reduction, min_channels)
        self.fc1 = nn.Conv2d(in_channels, self.hidden_channels, 1, bias=bias)
        self.act = build_act(self.name, 'act_cfg', act_cfg)
        self.fc2 = nn.Conv2d(self.hidden_channels, in_channels, 1, bias=bias)
        self.gate = build_act(self.name, 'gate_cfg', gate_cfg, example="dict(type='Sigmoid')")

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        s = x.mean((2, 3), keepdim=True)  # [B, C, 1, 1]
        s = self.fc2(self.act(self.fc1(s)))  # [B, C, 1, 1]
        return x * self.gate(s)  # [B, C, H, W]
