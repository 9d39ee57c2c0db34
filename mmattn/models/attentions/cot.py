"""Contextual Transformer attention.

Li et al., "Contextual Transformer Networks for Visual Recognition", TPAMI 2022.
https://arxiv.org/abs/2107.12292
"""
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import (AttentionMap, MapSpec, accumulation_dtype, check_act_cfg, check_norm_cfg,
                     check_odd_kernel, check_positive_int, conv_module_forward)
from .base import AttentionModule


@ROOT_MODELS.register_module()
class CoTAttention(AttentionModule):
    """Contextual Transformer (CoT) attention block.

    The keys are contextualised by a grouped ``k x k`` convolution (conv-BN-ReLU):
    the static context ``k1``. The values are a 1x1 conv-BN of the input.
    Concatenated with the input (the queries), ``k1`` goes through a 1x1
    conv-BN-ReLU (``2C -> 2C / reduction``) and a 1x1 conv to ``C * k * k``
    attention logits, which are averaged over the ``k * k`` positions of each
    channel; a softmax over all ``H * W`` positions weights the values: the
    dynamic context ``k2``. The output is ``k1 + k2``.

    This is the widely used simplified CoT block (the seed's and MODULES.md's
    math): the official CoTNet instead aggregates the values over each ``k x k``
    window with the ``k * k`` weights (a local convolution with GroupNorm);
    here the ``k * k`` maps are averaged and the softmax is global.

    The mean over the ``k * k`` logit maps is linear, so it is taken on the
    last conv's weights and bias before the convolution, not on its
    ``C * k * k`` output maps: same result, ``k * k`` times fewer output
    channels in the largest layer. The parameters keep the paper's shape
    (``C * k * k`` outputs), so the parameter count and the state dict match
    the paper's layout and the seed's.

    Args:
        in_channels (int): Number of input channels C, divisible by
            ``groups``.
        kernel_size (int): Odd size k of the key convolution. Default: 3.
        groups (int): Groups of the key convolution. Default: 4.
        reduction (int): Divisor of the attention embedding's hidden width,
            ``2C -> 2C // reduction``. Default: 4.
        norm_cfg (dict): Norm layer after the key, value and first attention
            convolutions. Default: ``dict(type='BN')``.
        act_cfg (dict): Activation of the key and attention embeddings.
            Default: ``dict(type='ReLU')``.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Contextual Transformer Networks, TPAMI 2022'
    paper_url = 'https://arxiv.org/abs/2107.12292'
    short_name = 'cot'
    family = 'cot'
    note = 'the k*k mean folded into the last 1x1 conv'
    default_position = 'after_conv2'
    position_note = 'it replaces the 3x3 conv in its paper'
    _abbr_ = 'cot'
    # The softmax over positions that weights the values, one map per channel.
    _maps_ = {'spatial_attention': MapSpec('spatial_attention', 'BCHW', 'spatial', 'softmax',
                                           'HW')}

    def __init__(self,
                 in_channels: int,
                 kernel_size: int = 3,
                 groups: int = 4,
                 reduction: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        self.kernel_size = check_odd_kernel(self.name, 'kernel_size', kernel_size,
                                            'so that the key convolution keeps H and W')
        self.groups = check_positive_int(self.name, 'groups', groups)
        self.reduction = check_positive_int(self.name, 'reduction', reduction)
        if in_channels % groups:
            raise ValueError(f'{self.name}: in_channels={in_channels} must be divisible '
                             f'by groups={groups}')
        hidden = 2 * in_channels // reduction
        if hidden < 1:
            raise ValueError(f'{self.name}: reduction={reduction} leaves no hidden channel '
                             f'for in_channels={in_channels} (2 * in_channels // reduction '
                             'must be >= 1)')
        for channels in (in_channels, hidden):
            check_norm_cfg(self.name, 'norm_cfg', norm_cfg, channels)
        act_cfg = check_act_cfg(self.name, 'act_cfg', act_cfg)
        self.key_embed = ConvModule(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=groups,
            norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.value_embed = ConvModule(
            in_channels, in_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.attention_embed = ConvModule(
            2 * in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.attention_out = nn.Conv2d(hidden, in_channels * kernel_size**2, 1)
        self.spatial_attention = AttentionMap()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        B, C, H, W = x.shape
        k1 = conv_module_forward(self.key_embed, x)  # [B, C, H, W]
        v = conv_module_forward(self.value_embed, x)  # [B, C, H, W]
        a = conv_module_forward(self.attention_embed, torch.cat([k1, x], dim=1))  # [B, 2C/r, H, W]
        # Output channel c * k * k + j of attention_out is map j of channel c:
        # averaging over j on the weights equals averaging the maps.
        kk = self.kernel_size**2
        weight = self.attention_out.weight
        weight = weight.view(C, kk, *weight.shape[1:]).mean(1)  # [C, 2C/r, 1, 1]
        bias = self.attention_out.bias.view(C, kk).mean(1)  # [C]
        logits = F.conv2d(a, weight, bias)  # [B, C, H, W]
        # Softmax over H*W in fp32 (fp64 for fp64): fp16/bf16 logits of ~1e3 stay exact enough.
        att = logits.reshape(B, C, H * W).softmax(-1, dtype=accumulation_dtype(logits.dtype))
        k2 = self.spatial_attention(att.to(v.dtype).view(B, C, H, W)) * v  # [B, C, H, W]
        return k1 + k2
