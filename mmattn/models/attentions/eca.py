"""Efficient Channel Attention.

Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional
Neural Networks", CVPR 2020. https://arxiv.org/abs/1910.03151
"""
import math
from typing import Optional, Union

import torch.nn as nn
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import MapSpec, build_act, check_number, check_odd_kernel
from .base import AttentionModule


def eca_kernel_size(channels: int, gamma: float = 2, b: float = 1) -> int:
    """The paper's adaptive kernel size ``k = |log2(C) / gamma + b / gamma|_odd``.

    ``|t|_odd`` is read as in the official code (the paper's Fig. 3):
    ``t = int(abs((log2(C) + b) / gamma))``, then ``t`` if odd else ``t + 1``.
    With gamma=2, b=1 this gives 3 for C=64, 5 for 256 and 512, 7 for 2048.
    """
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@ROOT_MODELS.register_module()
class ECA(AttentionModule):
    """Efficient Channel Attention: a 1D convolution across channels as the gate.

    Global average pooling gives one value per channel; a 1D convolution of
    kernel size k over this channel sequence (zero padded, no bias, as in the
    official code) mixes each channel with its k - 1 neighbours; a sigmoid turns
    the result into a channel gate. No dimensionality reduction, k parameters.

    Args:
        in_channels (int): Number of input channels C.
        kernel_size (int, optional): Odd kernel size of the 1D convolution.
            None (default) picks it from C with the paper's rule
            ``k = |log2(C) / gamma + b / gamma|_odd`` (see
            :func:`eca_kernel_size`).
        gamma (float): The paper's gamma in the adaptive rule. Default: 2.
        b (float): The paper's b in the adaptive rule. Default: 1.
        gate_cfg (dict): Gate activation. Default: Sigmoid.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None (PyTorch's default initialization).
    """

    paper = 'ECA-Net, CVPR 2020'
    paper_url = 'https://arxiv.org/abs/1910.03151'
    short_name = 'eca'
    family = 'eca'
    note = 'adaptive k (C=64: 3, 256: 5, 512: 5, 2048: 7), no bias'
    default_position = 'after_conv3'
    _abbr_ = 'eca'
    _maps_ = {'channel_gate': MapSpec('gate', 'B1C', 'channel')}

    def __init__(self,
                 in_channels: int,
                 kernel_size: Optional[int] = None,
                 gamma: float = 2,
                 b: float = 1,
                 gate_cfg: dict = dict(type='Sigmoid'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        gamma = check_number(self.name, 'gamma', gamma, low=0, low_inclusive=False)
        b = check_number(self.name, 'b', b)
        if kernel_size is None:
            t = abs((math.log2(in_channels) + b) / gamma)
            if not t < 2 * in_channels:
                raise ValueError(
                    f'{self.name}: gamma={gamma:g} and b={b:g} give an adaptive kernel size of '
                    f'about {t:.3g} for in_channels={in_channels}, wider than the '
                    '2 * in_channels - 1 '
                    'channels a kernel can reach; use values near the paper\'s gamma=2, b=1')
            kernel_size = eca_kernel_size(in_channels, gamma, b)
        kernel_size = check_odd_kernel(
            self.name, 'kernel_size', kernel_size,
            'so that the convolution keeps one output per channel and stays centred')
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(
            1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.gate = build_act(self.name, 'gate_cfg', gate_cfg, "dict(type='Sigmoid')")

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        s = x.mean((2, 3)).unsqueeze(1)  # [B, 1, C]
        w = self.gate(self.conv(s))  # [B, 1, C]
        return x * w.view(x.shape[0], self.in_channels, 1, 1)  # [B, C, H, W]
