"""Test-local source models: the ResNets of timm, mmpretrain and the official repositories.

Written here from each source's published architecture and parameter names
(timm ``models/resnet.py`` and ``layers/squeeze_excite.py``/``eca.py``;
mmpretrain ``backbones/seresnet.py`` and ``utils/se_layer.py``;
Jongchan/attention-module ``MODELS/model_resnet.py``/``cbam.py``;
BangguWu/ECANet ``models/eca_resnet.py``/``eca_module.py``;
landskape-ai/triplet-attention ``MODELS/resnet.py``/``triplet_attention.py``;
HZAI-ZJNU/SCSA ``backbones/resnet_scsa.py``/``attentions/SCSA.py``), with the
sources' own operation order (CBAM's ``[max, mean]`` pooling, the permuted
triplet branches, SCSA's attention before its mean) and their own rounding
rules, never importing mmattn: the converted mmattn backbone is compared
against these. ``save_checkpoint`` writes each in its source's file format.
"""
import math
import os.path as osp
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- rounding rules


def divisible(v: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """timm's / mmpretrain's channel rounding (nearest multiple, not below the limit)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < round_limit * v else new_v


def timm_eca_k(c: int) -> int:
    t = int(abs(math.log(c, 2) + 1) / 2)
    return max(t if t % 2 else t + 1, 3)


# ----------------------------------------------------------------------------- modules


class TimmSE(nn.Module):
    """timm SEModule: fc1 -> ReLU -> fc2 -> sigmoid, rd = make_divisible(C/16, 8, 0)."""

    def __init__(self, c: int):
        super().__init__()
        rd = divisible(c / 16, 8, round_limit=0.)
        self.fc1 = nn.Conv2d(c, rd, 1, bias=True)
        self.bn = nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, c, 1, bias=True)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.act(self.bn(self.fc1(s)))))


class TimmECA(nn.Module):
    """timm EcaModule: Conv1d over the pooled channels, kernel by timm's rule."""

    def __init__(self, c: int, kernel_size: Optional[int] = None):
        super().__init__()
        k = kernel_size or timm_eca_k(c)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1)


class _ConvAct(nn.Module):
    """mmcv ConvModule without norm: ``.conv`` then an activation."""

    def __init__(self, cin: int, cout: int, act: nn.Module):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=True)
        self.activate = act

    def forward(self, x):
        return self.activate(self.conv(x))


class MmpretrainSELayer(nn.Module):
    """mmpretrain SELayer: conv1 (ReLU), conv2 (Sigmoid), hidden make_divisible(C // 16, 8)."""

    def __init__(self, c: int):
        super().__init__()
        sq = divisible(c // 16, 8)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = _ConvAct(c, sq, nn.ReLU(inplace=True))
        self.conv2 = _ConvAct(sq, c, nn.Sigmoid())

    def forward(self, x):
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


class BasicConv(nn.Module):
    """The official CBAM/Triplet BasicConv: conv (no bias) + BN(eps 1e-5, momentum 0.01)."""

    def __init__(self, k: int):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, stride=1, padding=(k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x):
        return self.bn(self.conv(x))


def channel_pool(x):
    """[max, mean] over the channels, as the official ChannelPool/ZPool."""
    return torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)


class CbamChannelGate(nn.Module):

    def __init__(self, c: int, r: int = 16):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(c, c // r), nn.ReLU(),
                                 nn.Linear(c // r, c))

    def forward(self, x):
        size = (x.size(2), x.size(3))
        att = self.mlp(F.avg_pool2d(x, size, stride=size)) + \
            self.mlp(F.max_pool2d(x, size, stride=size))
        return x * torch.sigmoid(att).unsqueeze(2).unsqueeze(3).expand_as(x)


class CbamSpatialGate(nn.Module):

    def __init__(self):
        super().__init__()
        self.spatial = BasicConv(7)

    def forward(self, x):
        return x * torch.sigmoid(self.spatial(channel_pool(x)))


class OfficialCBAM(nn.Module):

    def __init__(self, c: int, no_spatial: bool = False):
        super().__init__()
        self.ChannelGate = CbamChannelGate(c)
        if not no_spatial:
            self.SpatialGate = CbamSpatialGate()
        self.no_spatial = no_spatial

    def forward(self, x):
        x = self.ChannelGate(x)
        return x if self.no_spatial else self.SpatialGate(x)


class OfficialECA(nn.Module):
    """ECANet's eca_layer."""

    def __init__(self, c: int, k_size: int = 3):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False)

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y).expand_as(x)


class TripletGate(nn.Module):
    """One gate; ``attr`` is ``'spatial'`` (MODELS/ SpatialGate) or ``'conv'`` (AttentionGate)."""

    def __init__(self, attr: str, k: int):
        super().__init__()
        self.attr = attr
        setattr(self, attr, BasicConv(k))

    def forward(self, x):
        return x * torch.sigmoid(getattr(self, self.attr)(channel_pool(x)))


class OfficialTriplet(nn.Module):
    """TripletAttention with the published (``old``) or the newer (``new``) names."""

    def __init__(self, c: int, names: str = 'old', k: int = 7, no_spatial: bool = False):
        super().__init__()
        if names == 'old':
            self.gate_names = ('ChannelGateH', 'ChannelGateW', 'SpatialGate')
            attr = 'spatial'
        else:
            self.gate_names = ('cw', 'hc', 'hw')
            attr = 'conv'
        for name in self.gate_names[:2 if no_spatial else 3]:
            setattr(self, name, TripletGate(attr, k))
        self.no_spatial = no_spatial

    def forward(self, x):
        h, w, s = self.gate_names
        o1 = getattr(self, h)(x.permute(0, 2, 1, 3).contiguous()).permute(0, 2, 1, 3)
        o2 = getattr(self, w)(x.permute(0, 3, 2, 1).contiguous()).permute(0, 3, 2, 1)
        if self.no_spatial:
            return 0.5 * (o1 + o2)
        return (1 / 3) * (getattr(self, s)(x) + o1 + o2)


class OfficialSCSA(nn.Module):
    """SCSA (avg_pool mode): SMSA then PCSA, with the official operation order."""

    def __init__(self, dim: int, head_num: int = 1, window_size: int = 7,
                 group_kernel_sizes: Sequence[int] = (3, 5, 7, 9), qkv_bias: bool = False):
        super().__init__()
        self.dim, self.head_num, self.head_dim = dim, head_num, dim // head_num
        self.scaler = self.head_dim**-0.5
        gc = self.group_chans = dim // 4
        for name, k in zip(('local_dwc', 'global_dwc_s', 'global_dwc_m', 'global_dwc_l'),
                           group_kernel_sizes):
            setattr(self, name, nn.Conv1d(gc, gc, k, padding=k // 2, groups=gc))
        self.norm_h = nn.GroupNorm(4, dim)
        self.norm_w = nn.GroupNorm(4, dim)
        self.conv_d = nn.Identity()
        self.norm = nn.GroupNorm(1, dim)
        for name in 'qkv':
            setattr(self, name, nn.Conv2d(dim, dim, 1, bias=qkv_bias, groups=dim))
        self.down_func = nn.AvgPool2d(window_size, stride=window_size)

    def _gate(self, p, norm):
        parts = torch.split(p, self.group_chans, dim=1)
        p = torch.cat((self.local_dwc(parts[0]), self.global_dwc_s(parts[1]),
                       self.global_dwc_m(parts[2]), self.global_dwc_l(parts[3])), dim=1)
        return torch.sigmoid(norm(p))

    def forward(self, x):
        b, c, h, w = x.size()
        x = x * self._gate(x.mean(3), self.norm_h).view(b, c, h, 1) \
            * self._gate(x.mean(2), self.norm_w).view(b, c, 1, w)
        y = self.norm(self.conv_d(self.down_func(x)))
        hh, ww = y.shape[2:]
        q, k, v = (getattr(self, n)(y).reshape(b, self.head_num, self.head_dim, hh * ww)
                   for n in 'qkv')
        attn = (q @ k.transpose(-2, -1) * self.scaler).softmax(dim=-1)
        attn = (attn @ v).reshape(b, c, hh, ww).mean((2, 3), keepdim=True)
        return torch.sigmoid(attn) * x


# ----------------------------------------------------------------------------- the ResNet


class Bottleneck(nn.Module):
    """torchvision/timm Bottleneck (stride in the 3x3 conv) with one optional attention."""

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: Optional[nn.Module],
                 groups: int, base_width: int, attn: Optional[Tuple[str, str, nn.Module]]):
        super().__init__()
        width = int(planes * (base_width / 64.)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.attn_name, self.attn_position = (attn[0], attn[1]) if attn else (None, None)
        if attn:
            setattr(self, attn[0], attn[2])

    def _attn(self, x, position):
        return getattr(self, self.attn_name)(x) if self.attn_position == position else x

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self._attn(out, 'after_conv2')
        out = self.bn3(self.conv3(out))
        out = self._attn(out, 'after_conv3')
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


AttnFactory = Callable[[int, int], nn.Module]  # (channels, stage) -> module


class SourceResNet(nn.Module):
    """A torchvision-named ResNet: plain or timm deep stem, strided or average-pool shortcut."""

    def __init__(self, layers: Sequence[int], stem: str = 'plain', avg_down: bool = False,
                 groups: int = 1, base_width: int = 64, attn_name: Optional[str] = None,
                 attn_position: str = 'after_conv3', attn: Optional[AttnFactory] = None,
                 attn_stages: Sequence[bool] = (True, True, True, True)):
        super().__init__()
        if stem == 'deep':
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                nn.Conv2d(32, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                nn.Conv2d(32, 64, 3, 1, 1, bias=False))
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for s, n in enumerate(layers):
            planes, stride = 64 * 2**s, 1 if s == 0 else 2
            down = None
            if stride != 1 or inplanes != planes * 4:
                conv = nn.Conv2d(inplanes, planes * 4, 1, 1 if avg_down else stride, bias=False)
                if avg_down:
                    pool = nn.Identity() if stride == 1 else nn.AvgPool2d(
                        2, stride, ceil_mode=True, count_include_pad=False)
                    down = nn.Sequential(pool, conv, nn.BatchNorm2d(planes * 4))
                else:
                    down = nn.Sequential(conv, nn.BatchNorm2d(planes * 4))
            blocks = []
            for b in range(n):
                width = int(planes * (base_width / 64.)) * groups
                channels = planes * 4 if attn_position == 'after_conv3' else width
                spec = None
                if attn is not None and attn_stages[s]:
                    spec = (attn_name, attn_position, attn(channels, s))
                blocks.append(Bottleneck(inplanes, planes, stride if b == 0 else 1,
                                         down if b == 0 else None, groups, base_width, spec))
                inplanes = planes * 4
            self.add_module(f'layer{s + 1}', nn.Sequential(*blocks))
        self.fc = nn.Linear(inplanes, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for s in range(4):
            x = getattr(self, f'layer{s + 1}')(x)
            outs.append(x)
        return tuple(outs)


# ----------------------------------------------------------------------------- the sources
R50, R101, R152 = (3, 4, 6, 3), (3, 4, 23, 3), (3, 8, 36, 3)


def _timm(layers, attn=None, **kw):
    name = 'se' if attn else None
    return lambda: SourceResNet(layers, attn_name=name, attn=attn, **kw)


_timm_se = lambda c, s: TimmSE(c)  # noqa: E731
_timm_eca = lambda c, s: TimmECA(c)  # noqa: E731
_D = dict(stem='deep', avg_down=True)
_X = dict(groups=32, base_width=4)

# (family, arch) -> (model factory, file format); the format decides the keys and nesting.
SOURCES: Dict[Tuple[str, str], Tuple[Callable[[], nn.Module], str]] = {
    ('timm', 'resnet50'): (_timm(R50), 'safetensors'),
    ('timm', 'resnet101'): (_timm(R101), 'safetensors'),
    ('timm', 'seresnet50'): (_timm(R50, _timm_se), 'safetensors'),
    ('timm', 'seresnet101'): (_timm(R101, _timm_se), 'pth'),
    ('timm', 'seresnet152'): (_timm(R152, _timm_se), 'pth'),
    ('timm', 'seresnext50_32x4d'): (_timm(R50, _timm_se, **_X), 'safetensors'),
    ('timm', 'seresnext101_32x4d'): (_timm(R101, _timm_se, **_X), 'pth'),
    ('timm', 'ecaresnet50d'): (_timm(R50, _timm_eca, **_D), 'safetensors'),
    ('timm', 'ecaresnet101d'): (_timm(R101, _timm_eca, **_D), 'pth'),
    ('mmpretrain', 'seresnet50'): (
        lambda: SourceResNet(R50, attn_name='se_layer', attn=lambda c, s: MmpretrainSELayer(c)),
        'mmpretrain'),
    ('mmpretrain', 'seresnet101'): (
        lambda: SourceResNet(R101, attn_name='se_layer', attn=lambda c, s: MmpretrainSELayer(c)),
        'mmpretrain'),
    ('cbam', 'resnet50_cbam'): (
        lambda: SourceResNet(R50, attn_name='cbam', attn=lambda c, s: OfficialCBAM(c)),
        'dataparallel'),
    ('cbam', 'resnet101_cbam'): (
        lambda: SourceResNet(R101, attn_name='cbam', attn=lambda c, s: OfficialCBAM(c)),
        'dataparallel'),
    ('eca', 'eca_resnet50'): (
        lambda: SourceResNet(R50, attn_name='eca',
                             attn=lambda c, s: OfficialECA(c, (3, 5, 5, 7)[s])), 'dataparallel'),
    ('eca', 'eca_resnet101'): (
        lambda: SourceResNet(R101, attn_name='eca',
                             attn=lambda c, s: OfficialECA(c, (3, 3, 5, 7)[s])), 'dataparallel'),
    ('triplet', 'resnet50_triplet'): (
        lambda: SourceResNet(R50, attn_name='triplet_attention',
                             attn=lambda c, s: OfficialTriplet(c, 'old')), 'dataparallel'),
    ('triplet', 'resnet50_triplet_k3'): (
        lambda: SourceResNet(R50, attn_name='triplet_attention',
                             attn=lambda c, s: OfficialTriplet(c, 'old', k=3)), 'dataparallel'),
    ('scsa', 'resnet50_scsa'): (
        lambda: SourceResNet(R50, attn_name='attn', attn_position='after_conv2',
                             attn=lambda c, s: OfficialSCSA(c)), 'mmengine'),
    ('scsa', 'resnet101_scsa'): (
        lambda: SourceResNet(R101, attn_name='attn', attn_position='after_conv2',
                             attn=lambda c, s: OfficialSCSA(c, head_num=2, window_size=2)),
        'mmengine'),
}
# The input each source is compared at: SCSA's official 7x7 pooling window needs
# stage 4 (stride 32) to be at least 7 pixels wide.
INPUT_SIZE = {('scsa', 'resnet50_scsa'): 224, ('scsa', 'resnet101_scsa'): 64}
SCSA_CFG = {'resnet50_scsa': dict(head_num=1, window_size=7),
            'resnet101_scsa': dict(head_num=2, window_size=2)}


@torch.no_grad()
def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BN statistics, scaled so that 50-150 layers stay O(1)."""
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            m.weight.normal_(0, 1 / math.sqrt(m.weight[0].numel()), generator=g)
            if m.bias is not None:
                m.bias.uniform_(-0.2, 0.2, generator=g)
        elif isinstance(m, nn.BatchNorm2d):
            # The last BN of a residual branch small, as in trained ResNets.
            last = name.endswith('bn3') or name.endswith('downsample.1') or \
                name.endswith('downsample.2')
            m.weight.uniform_(*((0.1, 0.4) if last else (0.5, 1.5)), generator=g)
            m.bias.uniform_(-0.2, 0.2, generator=g)
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=g)))
        elif isinstance(m, nn.GroupNorm):
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.uniform_(-0.2, 0.2, generator=g)
    return model.eval()


def _scsa_meta(arch: str) -> dict:
    cfg = dict(SCSA_CFG[arch], attn_drop_ratio=0.0, down_sample_mode='avg_pool',
               gate_layer='sigmoid', group_kernel_sizes=[3, 5, 7, 9])
    items = ', '.join(f'{k}={v!r}' for k, v in cfg.items())
    text = ("default_scope = 'mmpretrain'\n"
            f"model = dict(type='ImageClassifier', backbone=dict(type='ResNetSCSA', depth=50, "
            f"scsa_cfg=dict({items}), style='pytorch'), neck=dict(type='GlobalAveragePooling'), "
            "head=dict(type='LinearClsHead', num_classes=1000, in_channels=2048))\n")
    return dict(cfg=text, mmengine_version='0.10.7', epoch=100)


def save_checkpoint(model: nn.Module, family: str, arch: str, fmt: str, folder: str) -> str:
    """Save ``model`` as its source does; the path."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    if fmt == 'safetensors':
        from safetensors.torch import save_file
        path = osp.join(folder, f'{arch}.safetensors')
        save_file({k: v.contiguous() for k, v in state.items()}, path)
        return path
    if fmt == 'pth':  # timm's torch files: the bare state dict
        path = osp.join(folder, f'{arch}.pth')
        torch.save(state, path)
        return path
    if fmt == 'dataparallel':  # the official repositories: DataParallel, .pth.tar
        path = osp.join(folder, f'{arch}_model_best.pth.tar')
        torch.save({'epoch': 100, 'arch': 'resnet', 'best_prec1': torch.tensor(77.0),
                    'state_dict': {f'module.{k}': v for k, v in state.items()},
                    'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1, 'params': [0]}]}},
                   path)
        return path
    # mmpretrain / mmengine classifiers: backbone. + head.fc
    head = {f'head.{k}': v for k, v in state.items() if k.startswith('fc.')}
    body = {f'backbone.{k}': v for k, v in state.items() if not k.startswith('fc.')}
    meta = _scsa_meta(arch) if fmt == 'mmengine' else dict(mmcls_version='0.1.0')
    path = osp.join(folder, f'{family}_{arch}.pth')
    torch.save({'meta': meta, 'state_dict': {**body, **head}}, path)
    return path
