"""Dual Attention Network: position (PAM) and channel (CAM) self-attention.

Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019.
https://arxiv.org/abs/1809.02983

Parameter names follow the official code (``query_conv``, ``key_conv``,
``value_conv``, ``gamma``), so its PAM/CAM weights load directly.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmattn.compat import autocast_disabled, cond, is_exporting, scaled_dot_product_attention
from mmattn.registry import ROOT_MODELS
from ..utils import AttentionMap, MapSpec, accumulation_dtype, check_choice, check_positive_int
from .base import STAGE_4, AttentionModule

#: ``impl='auto'`` takes the fused SDPA path from this many pixels (H*W) on.
#: The choice is about memory: on CPU the plain path (bmm + softmax) measured
#: faster than the fused one at every size up to 128x128, but it holds the
#: (H*W)^2 attention map: 64 MiB in fp32 at 64x64 (fine), 1 GiB at 128x128
#: (3.5 GB peak process memory for one 256-channel image, forward+backward).
#: Above 64x64 the fused path keeps memory linear in H*W; it is about as fast as
#: the official code's from there on and 1.7x faster at 128x128.
PAM_SDPA_MIN_PIXELS = 64 * 64 + 1

#: Largest head width of the fused path (unless C/reduction is larger). Fewer,
#: wider heads do fewer exps (one per query-key pair and head) in larger matrix
#: products, but PyTorch's CPU flash backward runs heads and images in parallel,
#: not query blocks. C=256 at 96x96, one thread, forward + backward: 1 head of
#: 256 1.3 + 2.8 s, 2 heads of 128 1.4 + 3.6 s, 8 heads of 32 1.6 + 4.1 s; on
#: two threads the single head's backward uses one of them, so 2 heads of 128
#: are the fastest there.
PAM_SDPA_MAX_HEAD_CHANNELS = 128

_PAM_IMPLS = ('auto', 'plain', 'sdpa')


def _float32_region(x: Tensor):
    """A context where autocast is off, so energies and softmax stay in float32 (or float64).

    On the ``meta`` device (shapes only) there is no autocast to turn off (see
    :func:`mmattn.compat.autocast_disabled`)."""
    return autocast_disabled(x.device.type)


def _check_pam_args(module: str, reduction: int, min_channels: int, impl: str) -> None:
    """PAM's arguments, checked under the name of the module the user built."""
    check_positive_int(module, 'reduction', reduction)
    check_positive_int(module, 'min_channels', min_channels)
    check_choice(module, 'impl', impl, _PAM_IMPLS)


def _zero_gamma(gamma: nn.Parameter) -> None:
    with torch.no_grad():
        gamma.zero_()


@ROOT_MODELS.register_module()
class DANetPAM(AttentionModule):
    """Position attention module of DANet: self-attention over all H*W positions.

    With ``X`` the input as ``C x N`` (``N = H*W``), ``Q = W_q X + b_q`` and
    ``K = W_k X + b_k`` (1x1 convolutions to ``C'`` channels) and
    ``V = W_v X + b_v`` (1x1 convolution to ``C`` channels)::

        S = softmax_j(Q^T K)          # [N, N], no 1/sqrt(C') scaling, as in the paper
        out = gamma * V S^T + X       # gamma initialised to 0

    Two implementations of the same math, picked by ``impl``:

    - ``'plain'``: the ``N x N`` energies in float32 (float64 for float64
      inputs), softmax, two batched
      matrix products. Fastest for small maps; memory O(N^2).
    - ``'sdpa'``: :func:`torch.nn.functional.scaled_dot_product_attention` with
      ``scale=1.0``; memory O(N) through the fused (flash) kernel. That kernel
      needs queries, keys and values of one head width, so ``V``'s ``C``
      channels are split into heads of width ``w`` (at most 128 unless C' is
      larger), ``Q`` and ``K`` are zero-padded from ``C'`` to ``w`` channels
      (zeros add nothing to ``Q^T K``) and shared by every head as broadcast
      views. Fewer, wider heads are faster on CPU than ``C / C'`` heads of
      width ``C'``, for the same number of multiply-adds.
    - ``'auto'`` (default): ``'sdpa'`` when ``H*W > 4096`` (maps larger than
      64x64, where the plain path's memory grows past a few hundred MiB per
      image), else ``'plain'``; ``'plain'`` while exporting to ONNX (SDPA would
      be decomposed into the same matrix products there, once per head). The
      choice depends on shapes only, so ``torch.jit.trace`` records the path of
      the trace size (both compute the same output at every size; only the
      memory differs). ``torch.export`` keeps both paths in the program
      (``torch.cond``), so the exported program picks by size as eager does.

    Args:
        in_channels (int): Number of input channels C.
        reduction (int): The paper's divisor for the query/key width:
            ``C' = max(C // reduction, min_channels)``. Default: 8.
        min_channels (int): Lower bound on the query/key width, so that
            ``C < reduction`` still works. Default: 1.
        impl (str): ``'auto'``, ``'plain'`` or ``'sdpa'`` (see above).
            Default: ``'auto'``.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None. ``gamma`` is zeroed again by
            :meth:`init_weights`, whatever a parent's ``init_cfg`` did.
    """

    paper = 'Dual Attention Network (position attention), CVPR 2019'
    paper_url = 'https://arxiv.org/abs/1809.02983'
    short_name = 'danet-pam'
    family = 'danet'
    note = 'no 1/sqrt(d); fused SDPA above 64x64 keeps memory linear in H*W'
    default_position = 'after_conv2'
    default_stages = STAGE_4
    position_note = "512 channels, the width DANet's head attends over"
    _abbr_ = 'pam'
    # The attention rows of chosen query pixels, from the input the probe holds (the
    # N x N map is never kept; see query_attention).
    _maps_ = {'query_attention': MapSpec('attention_input', 'BQHW', 'query', 'softmax', 'HW',
                                         derive='query_attention')}

    def __init__(self,
                 in_channels: int,
                 reduction: int = 8,
                 min_channels: int = 1,
                 impl: str = 'auto',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        _check_pam_args(self.name, reduction, min_channels, impl)
        self.reduction = reduction
        self.impl = impl
        self.qk_channels = max(in_channels // reduction, min_channels)
        self.query_conv = nn.Conv2d(in_channels, self.qk_channels, 1)
        self.key_conv = nn.Conv2d(in_channels, self.qk_channels, 1)
        self.value_conv = nn.Conv2d(in_channels, in_channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.attention_input = AttentionMap()
        # Head layout of the fused path: `num_heads` heads of `head_channels`.
        num_heads = math.ceil(in_channels / PAM_SDPA_MAX_HEAD_CHANNELS)
        self.head_channels = max(self.qk_channels, math.ceil(in_channels / num_heads))
        self.num_heads = math.ceil(in_channels / self.head_channels)
        self._init_gamma()

    def _init_gamma(self) -> None:
        _zero_gamma(self.gamma)

    def init_weights(self) -> None:
        super().init_weights()
        self._init_gamma()

    def _use_sdpa(self, num_pixels: int) -> bool:
        if self.impl == 'auto':
            return not torch.onnx.is_in_onnx_export() and num_pixels >= PAM_SDPA_MIN_PIXELS
        return self.impl == 'sdpa'

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return x + self.attention_term(x)

    def attention_term(self, x: Tensor) -> Tensor:
        """``gamma * V S^T``: the output without the residual, ``[B, C, H, W]``."""
        x = self.attention_input(x)
        B, C, H, W = x.shape
        N = H * W
        # The three 1x1 convolutions as one product on tokens: [B, N, 2D + C],
        # already in the token-major layout both paths need.
        weight = torch.cat([self.query_conv.weight, self.key_conv.weight,
                            self.value_conv.weight]).flatten(1)
        bias = torch.cat([self.query_conv.bias, self.key_conv.bias, self.value_conv.bias])
        qkv = F.linear(x.flatten(2).transpose(1, 2), weight, bias)  # [B, N, 2D + C]
        if self.impl == 'auto' and is_exporting():
            # torch.export: both paths stay in the program and the size picks one
            # at run time (a Python branch would guard the export size's side).
            out = cond(N >= PAM_SDPA_MIN_PIXELS, self._sdpa_dense, self._plain_dense, (qkv, ))
        elif self._use_sdpa(N):
            out = self._sdpa(qkv)
        else:
            out = self._plain(qkv)
        out = out.transpose(1, 2).reshape(B, C, H, W)  # [B, C, H, W]
        return self.gamma.to(out.dtype) * out

    def query_attention(self, x: Tensor, index: Tensor) -> Tensor:
        """Rows ``S[index]`` of the attention of input ``x``, ``[B, Q, H, W]``.

        ``index`` (``[Q]``) holds flat query positions ``h * W + w``. Only these rows are
        formed, from the module's own query and key convolutions, in float32 (or
        float64): memory O(Q * N), never the ``N x N`` map. Each row sums to 1.
        """
        B, C, H, W = x.shape
        q = self.query_conv(x).flatten(2)[:, :, index]  # [B, D, Q]
        k = self.key_conv(x).flatten(2)  # [B, D, N]
        dtype = accumulation_dtype(x.dtype)
        with _float32_region(x):
            energy = torch.bmm(q.to(dtype).transpose(1, 2), k.to(dtype))  # [B, Q, N]
            return energy.softmax(dim=-1).view(B, -1, H, W)

    # torch.cond needs both branches to return the same strides; the fused path's output
    # is a slice of its padded heads (C=129: strides (N*258, 258, 1)) or, at C=1, has the
    # plain path's strides in another order. Each returns a dense copy there, under
    # torch.export only (the copy of [B, N, C] is small next to the attention).
    def _plain_dense(self, qkv: Tensor) -> Tensor:
        return self._plain(qkv).clone(memory_format=torch.contiguous_format)

    def _sdpa_dense(self, qkv: Tensor) -> Tensor:
        return self._sdpa(qkv).clone(memory_format=torch.contiguous_format)

    def _split(self, qkv: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        D = self.qk_channels
        return qkv.split([D, D, self.in_channels], dim=-1)  # [B, N, D], [B, N, D], [B, N, C]

    def _plain(self, qkv: Tensor) -> Tensor:
        q, k, v = self._split(qkv)
        dtype = accumulation_dtype(q.dtype)
        with _float32_region(q):
            energy = torch.bmm(q.to(dtype), k.to(dtype).transpose(1, 2))  # [B, N, N]
            attn = energy.softmax(dim=-1).to(v.dtype)
            return torch.bmm(attn, v)  # [B, N, C]

    def _sdpa(self, qkv: Tensor) -> Tensor:
        q, k, v = self._split(qkv)
        B, N, _ = v.shape
        C, D = self.in_channels, self.qk_channels
        w, h = self.head_channels, self.num_heads
        if w > D:
            q = F.pad(q, (0, w - D))  # [B, N, w]
            k = F.pad(k, (0, w - D))
        if h * w > C:
            v = F.pad(v, (0, h * w - C))  # [B, N, h*w]
        v = v.unflatten(-1, (h, w)).transpose(1, 2)  # [B, h, N, w]
        q = q.unsqueeze(1).expand(B, h, N, w)  # views: one q/k for every head
        k = k.unsqueeze(1).expand(B, h, N, w)
        out = scaled_dot_product_attention(q, k, v, scale=1.0)  # [B, h, N, w]
        return out.transpose(1, 2).flatten(2)[..., :C]  # [B, N, C]


@ROOT_MODELS.register_module()
class DANetCAM(AttentionModule):
    """Channel attention module of DANet: self-attention between the C channel maps.

    With ``X`` the input as ``C x N`` (``N = H*W``), no projections::

        E = X X^T                                   # [C, C]
        A = softmax_j(rowmax(E) - E) = softmax_j(-E)
        out = gamma * A X + X                       # gamma initialised to 0

    The official code subtracts ``E`` from its row maximum before the softmax;
    a softmax does not change when a row is shifted by a constant, so this is
    ``softmax(-E)``, computed here without the extra pass (and without the
    ``inf - inf`` of the official form when ``E`` overflows). ``E``, the
    softmax and ``A X`` are computed in float32 (float64 for float64 inputs)
    whatever the input dtype or autocast say: ``E`` sums ``H*W`` squared
    activations and overflows fp16 (max 65504) for activations of a few units
    on a 64x64 map.

    Args:
        in_channels (int): Number of input channels C.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None. ``gamma`` is zeroed again by
            :meth:`init_weights`.
    """

    paper = 'Dual Attention Network (channel attention), CVPR 2019'
    paper_url = 'https://arxiv.org/abs/1809.02983'
    short_name = 'danet-cam'
    family = 'danet'
    note = 'energies and softmax in fp32'
    default_position = 'after_conv2'
    default_stages = STAGE_4
    position_note = "512 channels, the width DANet's head attends over"
    _abbr_ = 'cam'
    _maps_ = {'channel_attention': MapSpec('channel_attention', 'BIJ', 'matrix', 'softmax',
                                           'J')}

    def __init__(self,
                 in_channels: int,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.channel_attention = AttentionMap()
        self._init_gamma()

    def _init_gamma(self) -> None:
        _zero_gamma(self.gamma)

    def init_weights(self) -> None:
        super().init_weights()
        self._init_gamma()

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return x + self.attention_term(x)

    def attention_term(self, x: Tensor) -> Tensor:
        """``gamma * A X``: the output without the residual, ``[B, C, H, W]``."""
        B, C, H, W = x.shape
        with _float32_region(x):
            feat = x.flatten(2).to(accumulation_dtype(x.dtype))  # [B, C, N]
            energy = torch.bmm(feat, feat.transpose(1, 2))  # [B, C, C]
            attn = self.channel_attention(energy.neg().softmax(dim=-1))  # [B, C, C]
            out = torch.bmm(attn, feat).to(x.dtype)  # [B, C, N]
        return self.gamma.to(out.dtype) * out.view(B, C, H, W)


@ROOT_MODELS.register_module()
class DualAttention(AttentionModule):
    """DANet's dual attention: PAM and CAM on the same input, fused by a sum.

    Exactly::

        out = x + pam.attention_term(x) + cam.attention_term(x)
            = x + gamma_p * V S^T + gamma_c * A X
            = DANetPAM(x) + DANetCAM(x) - x

    i.e. the two attention terms are summed onto one shared residual. DANet's
    head sums the two branches after a 3x3 conv each (``pam(x) + cam(x)``,
    each with its own residual), which doubles the input while both gammas are
    still zero; as a plugin inside a pretrained network the module must start
    as the identity, so the input is counted once. With both gammas zero the
    output is ``x``.

    Args:
        in_channels (int): Number of input channels C.
        reduction (int): PAM's query/key divisor. Default: 8.
        min_channels (int): PAM's lower bound on the query/key width.
            Default: 1.
        impl (str): PAM's implementation, ``'auto'``, ``'plain'`` or
            ``'sdpa'``. Default: ``'auto'``.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Dual Attention Network, CVPR 2019'
    paper_url = 'https://arxiv.org/abs/1809.02983'
    short_name = 'danet'
    family = 'danet'
    note = 'PAM + CAM on one input at any C, H, W; `x + pam_term + cam_term`, the identity at init'
    default_position = 'after_conv2'
    default_stages = STAGE_4
    position_note = "512 channels, the width DANet's head attends over"
    _abbr_ = 'dual_attn'

    def __init__(self,
                 in_channels: int,
                 reduction: int = 8,
                 min_channels: int = 1,
                 impl: str = 'auto',
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        _check_pam_args(self.name, reduction, min_channels, impl)
        self.pam = DANetPAM(in_channels, reduction=reduction, min_channels=min_channels,
                            impl=impl)
        self.cam = DANetCAM(in_channels)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return x + self.pam.attention_term(x) + self.cam.attention_term(x)
