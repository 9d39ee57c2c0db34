"""FullyAttention as the official code writes it, with its batch pairing fixed: the baseline.

Song et al., "Fully Attentional Network for Semantic Segmentation", AAAI 2022.
https://arxiv.org/abs/2112.04108

The official ``encode_h.repeat(width, 1, 1)`` tiles the batch in the wrong order
(column ``w`` of sample ``b`` meets the context of sample ``(b*W + w) % B``);
this transcription pairs them with ``repeat_interleave``, the correct math,
and is otherwise the official code: contiguous copies, every C x C map
materialised, ``torch.bmm``. Same arguments and ``state_dict`` as
:class:`mmattn.models.attentions.fully_attention.FullyAttention`.
"""
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from . import BASELINES


@BASELINES.register_module(name='FullyAttention')
class FullyAttentionBaseline(BaseModule):
    """Fully Attentional block, transcribed (batch pairing fixed)."""

    def __init__(self,
                 in_channels: int,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.row_proj = nn.Linear(in_channels, in_channels)
        self.col_proj = nn.Linear(in_channels, in_channels)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.conv = ConvModule(in_channels, in_channels, 3, padding=1,
                               norm_cfg=norm_cfg.copy(), act_cfg=act_cfg.copy())

    def forward(self, x: Tensor) -> Tensor:
        B, _, H, W = x.shape
        feat_h = x.permute(0, 3, 1, 2).contiguous().view(B * W, -1, H)  # [B*W, C, H]
        feat_w = x.permute(0, 2, 1, 3).contiguous().view(B * H, -1, W)  # [B*H, C, W]
        encode_h = self.row_proj(
            F.avg_pool2d(x, [1, W]).view(B, -1, H).permute(0, 2, 1).contiguous())  # [B, H, C]
        encode_w = self.col_proj(
            F.avg_pool2d(x, [H, 1]).view(B, -1, W).permute(0, 2, 1).contiguous())  # [B, W, C]
        energy_h = torch.matmul(feat_h, encode_h.repeat_interleave(W, dim=0))  # [B*W, C, C]
        energy_w = torch.matmul(feat_w, encode_w.repeat_interleave(H, dim=0))  # [B*H, C, C]
        full_relation_h = torch.softmax(energy_h, dim=-1)
        full_relation_w = torch.softmax(energy_w, dim=-1)
        full_aug_h = torch.bmm(full_relation_h, feat_h).view(B, W, -1, H).permute(0, 2, 3, 1)
        full_aug_w = torch.bmm(full_relation_w, feat_w).view(B, H, -1, W).permute(0, 2, 1, 3)
        out = self.gamma * (full_aug_h + full_aug_w) + x
        return self.conv(out)
