"""CoTAttention as the seed writes it: the k*k mean taken on the C*k*k output maps."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor

from . import BASELINES


@BASELINES.register_module()
class CoTAttention(nn.Module):
    """Direct transcription of the CoT seed; same arguments and state dict as
    :class:`mmattn.models.attentions.cot.CoTAttention`."""

    def __init__(self,
                 in_channels: int,
                 kernel_size: int = 3,
                 groups: int = 4,
                 reduction: int = 4,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU')) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.key_embed = ConvModule(
            in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=groups,
            norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.value_embed = ConvModule(
            in_channels, in_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.attention_embed = ConvModule(
            2 * in_channels, 2 * in_channels // reduction, 1, norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.attention_out = nn.Conv2d(
            2 * in_channels // reduction, in_channels * kernel_size**2, 1)

    def forward(self, x: Tensor) -> Tensor:
        bs, c, h, w = x.shape
        k1 = self.key_embed(x)
        v = self.value_embed(x).view(bs, c, -1)
        y = torch.cat([k1, x], dim=1)
        att = self.attention_out(self.attention_embed(y))  # [B, C*k*k, H, W]
        att = att.reshape(bs, c, self.kernel_size * self.kernel_size, h, w)
        att = att.mean(2, keepdim=False).view(bs, c, -1)
        k2 = F.softmax(att, dim=-1) * v
        k2 = k2.view(bs, c, h, w)
        return k1 + k2
