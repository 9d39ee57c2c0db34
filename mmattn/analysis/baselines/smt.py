"""ScaleAwareModulation as the seed writes it: token form, heads convolved and concatenated
one by one."""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_norm_layer
from torch import Tensor

from . import BASELINES


@BASELINES.register_module()
class ScaleAwareModulation(nn.Module):
    """Direct transcription of the SMT seed; same arguments and state dict as
    :class:`mmattn.models.attentions.smt.ScaleAwareModulation`.

    :meth:`forward_tokens` is the seed's ``forward(x, H, W)``; :meth:`forward`
    takes ``(B, C, H, W)`` through it.
    """

    def __init__(self,
                 in_channels: int,
                 num_heads: int = 4,
                 expand_ratio: int = 2,
                 qkv_bias: bool = True,
                 out_proj: bool = True,
                 proj_drop: float = 0.,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU')) -> None:
        super().__init__()
        dim = in_channels
        self.ca_num_heads = num_heads
        self.split_groups = dim // num_heads
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.s = nn.Linear(dim, dim, bias=qkv_bias)
        self.local_convs = nn.ModuleList(
            nn.Conv2d(dim // num_heads, dim // num_heads, kernel_size=3 + i * 2,
                      padding=1 + i, stride=1, groups=dim // num_heads)
            for i in range(num_heads))
        self.proj0 = nn.Conv2d(dim, dim * expand_ratio, 1, groups=self.split_groups)
        self.bn = build_norm_layer(norm_cfg, dim * expand_ratio)[1]
        self.act = build_activation_layer(act_cfg.copy())
        self.proj1 = nn.Conv2d(dim * expand_ratio, dim, 1)
        self.proj = nn.Linear(dim, dim) if out_proj else nn.Identity()
        self.proj_drop = nn.Dropout(proj_drop)

    def forward_tokens(self, x: Tensor, hw: Sequence[int]) -> Tensor:
        H, W = hw
        B, N, C = x.shape
        v = self.v(x)
        s = self.s(x).reshape(B, H, W, self.ca_num_heads,
                              C // self.ca_num_heads).permute(3, 0, 4, 1, 2)
        for i in range(self.ca_num_heads):
            s_i = self.local_convs[i](s[i])
            s_i = s_i.reshape(B, self.split_groups, -1, H, W)
            if i == 0:
                s_out = s_i
            else:
                s_out = torch.cat([s_out, s_i], 2)
        s_out = s_out.reshape(B, C, H, W)
        s_out = self.proj1(self.act(self.bn(self.proj0(s_out))))
        s_out = s_out.reshape(B, C, N).permute(0, 2, 1)
        x = s_out * v
        return self.proj_drop(self.proj(x))

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        out = self.forward_tokens(x.flatten(2).transpose(1, 2), (H, W))
        return out.transpose(1, 2).reshape(B, C, H, W)
