"""Selective Kernel convolution.

Li et al., "Selective Kernel Networks", CVPR 2019.
https://arxiv.org/abs/1903.06586
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (AttentionMap, MapSpec, check_act_cfg, check_int_sequence, check_norm_cfg,
                     check_positive_int, conv_module_forward)
from .base import AttentionModule


@ROOT_MODELS.register_module()
class SK(AttentionModule):
    """Selective Kernel convolution: a softmax choice between receptive fields.

    Split: M branches, each a (grouped, possibly dilated) ``k x k``
    convolution followed by a norm and an activation, all ``C -> C`` on the
    same input. Fuse: the branch outputs are summed and globally averaged, and
    a fully connected layer ``C -> d`` with ``d = max(C // r, L)``, a norm and
    an activation give the compact descriptor z (the paper's
    ``z = ReLU(BN(W s))``). Select: M fully connected layers ``d -> C`` give
    one logit per branch and channel, a softmax over the branches gives the
    weights, and the output is the weighted sum of the branch outputs. The M
    select layers are computed as one ``d -> M * C`` layer. The fully connected
    layers have no bias, as in the paper's equations.

    Defaults are the paper's SKNet-50 unit: a 3x3 and a dilated 3x3 (the
    paper's cheaper stand-in for 5x5) group convolutions with G=32, r=16,
    L=32. The seed's configuration is ``kernels=(1, 3, 5, 7),
    dilations=(1, 1, 1, 1), groups=1, reduction=8``. In SKNet the unit
    replaces the 3x3 convolution of a ResNeXt bottleneck; as an mmdet plugin
    it is an extra ``C -> C`` unit at the chosen position.

    The norm of the fuse step sees one value per channel and sample: with one
    image per device (batch 1 in training) a BatchNorm there has nothing to
    take statistics from and normalises with its running statistics instead
    (mmattn's one-value rule, :mod:`mmattn.models.utils.norm`), where timm's
    and the official SK raise.

    Args:
        in_channels (int): Number of input (and output) channels C.
        kernels (Sequence[int]): Odd kernel size of each branch.
            Default: (3, 3).
        dilations (Sequence[int], optional): Dilation of each branch, as many
            as ``kernels``; None for no dilation. Default: (1, 2).
        groups (int): Groups of the branch convolutions; must divide C.
            Default: 32.
        reduction (int): The paper's reduction ratio r. Default: 16.
        min_channels (int): The paper's L, lower bound on d. Default: 32.
        norm_cfg (dict): Norm of the branches and of the fuse layer.
            Default: BN.
        act_cfg (dict): Activation of the branches and of the fuse layer.
            Default: ReLU.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None (PyTorch's default initialization).
    """

    paper = 'Selective Kernel Networks, CVPR 2019'
    paper_url = 'https://arxiv.org/abs/1903.06586'
    short_name = 'sk'
    family = 'sk'
    note = ("the paper's 3x3 + dilated 3x3; the seed's `kernels=(1, 3, 5, 7), groups=1` works too; "
            'M select layers as one conv')
    default_position = 'after_conv2'
    position_note = 'it replaces the 3x3 conv in its paper'
    _abbr_ = 'sk'
    _maps_ = {'branch_weights': MapSpec('branch_weights', 'BMC11', 'channel', 'softmax', 'M',
                                        series='split', series_name='branch')}

    def __init__(self,
                 in_channels: int,
                 kernels: Sequence[int] = (3, 3),
                 dilations: Optional[Sequence[int]] = (1, 2),
                 groups: int = 32,
                 reduction: int = 16,
                 min_channels: int = 32,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        kernels = check_int_sequence(self.name, 'kernels', kernels)
        dilations = ((1, ) * len(kernels) if dilations is None else
                     check_int_sequence(self.name, 'dilations', dilations))
        if len(dilations) != len(kernels):
            raise ValueError(f'{self.name}: dilations={dilations} must have one entry per kernel '
                             f'of kernels={kernels}')
        even = [k for k in kernels if k % 2 == 0]
        if even:
            raise ValueError(f'{self.name}: kernels={kernels} must all be odd, so that every '
                             'branch keeps the spatial size under symmetric padding')
        self.groups = check_positive_int(self.name, 'groups', groups)
        if in_channels % groups:
            raise ValueError(f'{self.name}: in_channels={in_channels} must be divisible by '
                             f'groups={groups}')
        self.reduction = check_positive_int(self.name, 'reduction', reduction)
        min_channels = check_positive_int(self.name, 'min_channels', min_channels)
        self.kernels, self.dilations = kernels, dilations
        self.num_branches = len(kernels)
        self.hidden_channels = max(in_channels // reduction, min_channels)  # the paper's d
        check_norm_cfg(self.name, 'norm_cfg', norm_cfg, in_channels, 'map')
        check_norm_cfg(self.name, 'norm_cfg', norm_cfg, self.hidden_channels, 'vector')
        check_act_cfg(self.name, 'act_cfg', act_cfg)
        self.convs = nn.ModuleList([
            ConvModule(in_channels, in_channels, k, padding=d * (k - 1) // 2, dilation=d,
                       groups=groups, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for k, d in zip(kernels, dilations)
        ])
        self.fc_reduce = ConvModule(in_channels, self.hidden_channels, 1, bias=False,
                                    norm_cfg=norm_cfg, act_cfg=act_cfg)
        # The paper's M select layers as one layer, in branch-major order.
        self.fc_select = nn.Conv2d(
            self.hidden_channels, self.num_branches * in_channels, 1, bias=False)
        self.branch_weights = AttentionMap()

    def _split(self, x: Tensor) -> List[Tensor]:
        # On CPU, oneDNN's backward of a dilated grouped convolution is about five
        # times slower on an NCHW tensor than on a channels_last one, so in
        # training such branches run channels_last, at the cost of two copies
        # (which make an inference-only forward ~10% slower: not in eval mode).
        # Grad mode is not consulted: jit.trace checks its graph without grad.
        via_channels_last = (self.training and x.device.type == 'cpu'
                             and max(self.dilations) > 1 and x.is_contiguous())
        x_cl = x.contiguous(memory_format=torch.channels_last) if via_channels_last else x
        return [
            conv_module_forward(conv, x_cl).contiguous()
            if via_channels_last and d > 1 else conv_module_forward(conv, x)
            for conv, d in zip(self.convs, self.dilations)
        ]

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        feats = self._split(x)  # M x [B, C, H, W]
        # GAP of the branch sum, as a sum of per-branch means (no summed map is built).
        s = feats[0].mean((2, 3), keepdim=True)
        for f in feats[1:]:
            s = s + f.mean((2, 3), keepdim=True)  # [B, C, 1, 1]
        z = conv_module_forward(self.fc_reduce, s)  # [B, d, 1, 1]
        logits = self.fc_select(z).view(x.size(0), self.num_branches, self.in_channels, 1, 1)
        a = self.branch_weights(logits.softmax(1))  # [B, M, C, 1, 1]
        out = feats[0] * a[:, 0]
        for m in range(1, self.num_branches):
            out = torch.addcmul(out, feats[m], a[:, m])  # [B, C, H, W]
        return out
