"""Fully Attentional block (FLA): channel attention with row and column context as queries.

Song et al., "Fully Attentional Network for Semantic Segmentation", AAAI 2022.
https://arxiv.org/abs/2112.04108
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch import Tensor

from mmattn.compat import scaled_dot_product_attention
from mmattn.registry import ROOT_MODELS
from ..utils import MapSpec, accumulation_dtype, check_act_cfg, check_norm_cfg, conv_module_forward
from .base import STAGE_4, AttentionModule


@ROOT_MODELS.register_module()
class FullyAttention(AttentionModule):
    """Fully Attentional block: channel-channel attention per column and per row.

    Row context: ``P_h = Linear_h(mean_W(x))``, one C-vector per row ``h``
    (``[B, H, C]``); column context: ``P_w = Linear_w(mean_H(x))``
    (``[B, W, C]``). For every column ``w`` of every sample, the C x C
    attention ``A_w = softmax_j(X_w P_h)`` between the column's channels
    ``X_w`` (``C x H``) and the row contexts re-weights the column's channels:
    ``aug_h[:, :, w] = A_w X_w``; likewise for every row with the column
    contexts (``aug_w``). Then::

        out = ConvModule3x3(gamma * (aug_h + aug_w) + x)    # gamma initialised to 0

    Each column/row attends with the context of its own sample; the official
    code tiles the contexts with ``repeat(width, 1, 1)``, which pairs column
    ``w`` of sample ``b`` with the context of sample ``(b*W + w) % B`` as soon
    as the batch has more than one sample.

    Every column (row) attention is a scaled-dot-product attention with the
    ``C`` channels as tokens of dimension ``H`` (``W``): queries and values the
    column's channels, keys the row contexts, no scaling. It runs through
    :func:`torch.nn.functional.scaled_dot_product_attention`, whose fused
    kernel never materialises the ``W`` (``H``) C x C maps and accumulates in
    float32 for fp16/bf16 inputs.

    Args:
        in_channels (int): Number of input channels C.
        norm_cfg (dict): Norm layer of the output 3x3 conv. Default: BN.
        act_cfg (dict): Activation of the output 3x3 conv. Default: ReLU.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None. ``gamma`` is zeroed again by
            :meth:`init_weights`.
    """

    paper = 'Fully Attentional Network, AAAI 2022'
    paper_url = 'https://arxiv.org/abs/2112.04108'
    short_name = 'fla'
    family = 'fully_attention'
    note = 'each row and column attends within its own sample (the seed mixes the batch)'
    default_position = 'after_conv2'
    default_stages = STAGE_4
    position_note = "512 channels, the width FLANet's head attends over"
    _abbr_ = 'fla'
    # The C x C attention of every column and of every row, derived from the module's
    # input (source '': the forward's input) by the methods of the same names.
    _maps_ = {'column_attention': MapSpec('', 'BSIJ', 'matrix', 'softmax', 'J',
                                          derive='column_attention'),
              'row_attention': MapSpec('', 'BSIJ', 'matrix', 'softmax', 'J',
                                       derive='row_attention')}

    def __init__(self,
                 in_channels: int,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        self.row_proj = nn.Linear(in_channels, in_channels)
        self.col_proj = nn.Linear(in_channels, in_channels)
        self.gamma = nn.Parameter(torch.zeros(1))
        norm_cfg = check_norm_cfg(self.name, 'norm_cfg', norm_cfg, in_channels)
        act_cfg = check_act_cfg(self.name, 'act_cfg', act_cfg)
        self.conv = ConvModule(in_channels, in_channels, 3, padding=1,
                               norm_cfg=norm_cfg, act_cfg=act_cfg)
        self._init_gamma()

    def _init_gamma(self) -> None:
        with torch.no_grad():
            self.gamma.zero_()

    def init_weights(self) -> None:
        super().init_weights()
        self._init_gamma()

    def _contexts(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """One context per row ``[B, H, C]`` and one per column ``[B, W, C]``."""
        return (self.row_proj(x.mean(3).transpose(1, 2)),
                self.col_proj(x.mean(2).transpose(1, 2)))

    def column_attention(self, x: Tensor) -> Tensor:
        """``A_w = softmax_j(X_w P_h)`` of every column ``w`` of input ``x``: ``[B, W, C, C]``.

        The forward's fused attention never forms these maps; this forms them (for
        plotting) from the same contexts, in float32 (or float64). Each row sums to 1.
        """
        ctx_h = self._contexts(x)[0]  # [B, H, C]
        cols = x.permute(0, 3, 1, 2)  # [B, W, C, H]
        dtype = accumulation_dtype(x.dtype)
        return torch.matmul(cols.to(dtype), ctx_h.unsqueeze(1).to(dtype)).softmax(-1)

    def row_attention(self, x: Tensor) -> Tensor:
        """``A_h = softmax_j(X_h P_w)`` of every row ``h`` of input ``x``: ``[B, H, C, C]``."""
        ctx_w = self._contexts(x)[1]  # [B, W, C]
        rows = x.permute(0, 2, 1, 3)  # [B, H, C, W]
        dtype = accumulation_dtype(x.dtype)
        return torch.matmul(rows.to(dtype), ctx_w.unsqueeze(1).to(dtype)).softmax(-1)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        B, C, H, W = x.shape
        ctx_h, ctx_w = self._contexts(x)  # [B, H, C], [B, W, C]
        cols = x.permute(0, 3, 1, 2).contiguous()  # [B, W, C, H]: column w, C tokens of dim H
        rows = x.permute(0, 2, 1, 3).contiguous()  # [B, H, C, W]
        # Keys: the sample's contexts, shared by its columns (rows) as broadcast views.
        keys_h = ctx_h.transpose(1, 2).unsqueeze(1).contiguous().expand(B, W, C, H)
        keys_w = ctx_w.transpose(1, 2).unsqueeze(1).contiguous().expand(B, H, C, W)
        aug_h = scaled_dot_product_attention(cols, keys_h.to(cols.dtype), cols, scale=1.0)
        aug_w = scaled_dot_product_attention(rows, keys_w.to(rows.dtype), rows, scale=1.0)
        aug = aug_h.permute(0, 2, 3, 1) + aug_w.permute(0, 2, 1, 3)  # [B, C, H, W]
        out = conv_module_forward(self.conv, x + self.gamma.to(aug.dtype) * aug)
        if out.requires_grad:
            # ReLU's backward reads its output: hand out a copy, so that an in-place
            # add after the plugin (mmdet's Bottleneck at after_conv3) leaves it intact.
            out = out.clone()
        return out
