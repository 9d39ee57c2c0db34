"""Multi-head scaled dot-product self-attention, on feature maps and on sequences.

Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
https://arxiv.org/abs/1706.03762
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmattn.compat import scaled_dot_product_attention
from mmattn.registry import ROOT_MODELS
from ..utils import (MapSpec, accumulation_dtype, check_positive_int, check_probability,
                     check_tensor, sizes_are_symbolic)
from .base import STAGE_4, AttentionBase, AttentionModule


def attend(q: Tensor,
           k: Tensor,
           v: Tensor,
           attention_mask: Optional[Tensor] = None,
           attention_weights: Optional[Tensor] = None,
           dropout_p: float = 0.,
           scale: Optional[float] = None) -> Tensor:
    """Scaled dot-product attention with the seed's mask and weight semantics.

    ``q``: ``(B, h, nq, d_k)``, ``k``: ``(B, h, nk, d_k)``, ``v``:
    ``(B, h, nk, d_v)``; returns ``(B, h, nq, d_v)``.

    ``attention_mask`` (bool, broadcastable to ``(B, h, nq, nk)``): True
    masks a key out. ``attention_weights`` (broadcastable to the same) multiply
    the scaled scores ``q k^T / sqrt(d_k)`` before the mask and the softmax,
    as in the seed. Without weights the fused
    ``F.scaled_dot_product_attention`` runs; with weights, which it cannot
    express, the scores are formed explicitly, in fp32.

    A query whose keys are all masked gets a zero output (the seed gives NaN,
    which then spreads to every gradient): its row is unmasked for the
    softmax, so nothing is -inf everywhere, and its output zeroed after.
    """
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    dead = None
    if attention_mask is not None:
        if attention_mask.dtype != torch.bool:
            raise TypeError('attention_mask must be a bool tensor (True = masked), got '
                            f'{attention_mask.dtype}')
        # Leading dims of 1 up to (B, h, nq, nk): a mask of fewer than two dims broadcasts
        # as well, but newer torch's SDPA refuses it ("Dimension out of range").
        attention_mask = attention_mask[(None, ) * (4 - attention_mask.dim())]
        dead = attention_mask.all(-1, keepdim=True)  # [..., nq, 1]
        attention_mask = attention_mask & ~dead
    if attention_weights is None:
        out = scaled_dot_product_attention(
            q, k, v, attn_mask=None if attention_mask is None else ~attention_mask,
            dropout_p=dropout_p, scale=scale)
    else:
        # Scores in fp32 (fp64 for fp64): fp16 q . k overflows long before the output would.
        dtype = accumulation_dtype(q.dtype)
        att = torch.matmul(q.to(dtype), k.to(dtype).transpose(-2, -1)) * scale * attention_weights
        if attention_mask is not None:
            att = att.masked_fill(attention_mask, float('-inf'))
        att = att.softmax(-1, dtype=dtype).to(v.dtype)  # [B, h, nq, nk]
        att = F.dropout(att, dropout_p, training=dropout_p > 0)
        out = torch.matmul(att, v)
    if dead is not None:
        out = out.masked_fill(dead, 0)
    return out


@ROOT_MODELS.register_module()
class MultiHeadSelfAttention2d(AttentionModule):
    """Multi-head self-attention over the positions of a feature map.

    The ``H * W`` positions become tokens of width C; a Linear maps them to
    queries, keys and values of ``num_heads`` heads, fused scaled dot-product
    attention (``F.scaled_dot_product_attention``) mixes them, and an output
    Linear maps the concatenated heads back to C; the tokens are folded back
    to ``(B, C, H, W)``. There is no positional encoding: the map is
    permutation-equivariant over positions, as in the paper's attention layer.

    As a plugin (mmcv's ``build_plugin_layer`` in a ResNet Bottleneck or on a
    neck's outputs) the module's output replaces the features, so by default
    it adds the attention to its input, the Transformer's residual
    connection, and starts with a zero output projection (as mmcv's
    ``NonLocal2d``): it is the identity at initialisation and leaves a
    pretrained backbone's features intact until it has learnt something.

    Args:
        in_channels (int): Number of input channels C, divisible by
            ``num_heads``.
        num_heads (int): Number of heads. Default: 8.
        qkv_bias (bool): Whether the query, key and value maps have biases.
            Default: True.
        attn_drop (float): Dropout on the attention probabilities.
            Default: 0.
        proj_drop (float): Dropout after the output projection. Default: 0.
        residual (bool): Return ``x + attention(x)`` instead of
            ``attention(x)``. Default: True.
        zero_init (bool, optional): Zero the output projection at
            initialisation (and after ``init_weights()``, whatever a parent's
            ``init_cfg`` does). Default: None, meaning ``residual``.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Bottleneck Transformers for Visual Recognition (BoTNet), CVPR 2021'
    paper_url = 'https://arxiv.org/abs/2101.11605'
    short_name = 'mhsa'
    family = 'mhsa'
    note = ('SDPA; residual with a zero-initialised output projection, so a fresh plugin is the '
            'identity')
    default_position = 'after_conv2'
    default_stages = STAGE_4
    position_note = "BoTNet's placement: in place of the 3x3 conv of the last stage"
    _abbr_ = 'mhsa'
    # The attention rows of chosen query pixels, per head, derived from the module's
    # input (source '': the forward's input) by query_attention.
    _maps_ = {'query_attention': MapSpec('', 'BSQHW', 'query', 'softmax', 'HW',
                                         derive='query_attention')}

    def __init__(self,
                 in_channels: int,
                 num_heads: int = 8,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 residual: bool = True,
                 zero_init: Optional[bool] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(in_channels, init_cfg=init_cfg)
        name = self.name
        self.num_heads = check_positive_int(name, 'num_heads', num_heads)
        if in_channels % num_heads:
            raise ValueError(f'{name}: in_channels={in_channels} must be divisible by '
                             f'num_heads={num_heads}')
        self.attn_drop = check_probability(name, 'attn_drop', attn_drop)
        self.residual = bool(residual)
        self.zero_init = self.residual if zero_init is None else bool(zero_init)
        if self.zero_init and not self.residual:
            raise ValueError(f'{name}: zero_init=True needs residual=True (a zero output '
                             'projection alone outputs zeros)')
        self.head_channels = in_channels // num_heads
        self.qkv = nn.Linear(in_channels, 3 * in_channels, bias=qkv_bias)
        self.proj = nn.Linear(in_channels, in_channels)
        self.proj_drop = nn.Dropout(check_probability(name, 'proj_drop', proj_drop))
        self._init_output()

    def _init_output(self) -> None:
        if self.zero_init:
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)

    def init_weights(self) -> None:
        super().init_weights()
        self._init_output()

    def _qkv(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of the ``H * W`` tokens of ``x``, ``[B, heads, N, C/heads]``."""
        B, C, H, W = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # [B, N, C]
        qkv = self.qkv(tokens).view(B, H * W, 3, self.num_heads, self.head_channels)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def query_attention(self, x: Tensor, index: Tensor) -> Tensor:
        """Attention rows of the query pixels ``index`` (flat ``h * W + w``, ``[Q]``) of
        input ``x``, per head: ``[B, heads, Q, H, W]``, each row summing to 1.

        The forward's fused attention never forms them; only these rows are formed here,
        from the module's own projections and the forward's scale ``head_dim**-0.5``, in
        float32 (or float64).
        """
        B, C, H, W = x.shape
        q, k, _ = self._qkv(x)  # [B, heads, N, C/heads]
        dtype = accumulation_dtype(x.dtype)
        scores = q[:, :, index].to(dtype) @ k.to(dtype).transpose(2, 3)  # [B, heads, Q, N]
        attn = (scores * self.head_channels**-0.5).softmax(-1)
        return attn.view(B, self.num_heads, -1, H, W)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        B, C, H, W = x.shape
        N = H * W
        q, k, v = self._qkv(x)  # [B, heads, N, C/heads] each
        out = scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        out = self.proj(out.transpose(1, 2).reshape(B, N, C))  # [B, N, C]
        out = self.proj_drop(out).transpose(1, 2).reshape(B, C, H, W)  # a view of [B, N, C]
        if self.residual:
            return x + out
        # A tensor of its own: mmdet's Bottleneck adds the identity in place after the
        # plugins, which fails on a view a gradient checkpoint returns.
        return out.clone(memory_format=torch.contiguous_format)


@ROOT_MODELS.register_module()
class ScaledDotProductAttention(AttentionBase):
    """Multi-head scaled dot-product attention on sequences ``(B, N, d_model)``.

    ``h`` heads of query/key width ``d_k`` and value width ``d_v`` (Linear
    maps ``d_model -> h * d_k`` and ``h * d_v``), attention, an output Linear
    ``h * d_v -> d_model``. Queries may come from a different sequence than
    keys and values (cross-attention). See :func:`attend` for
    ``attention_mask`` (True = masked) and ``attention_weights``.

    Args:
        d_model (int): Width of the input and output tokens.
        d_k (int): Query and key width of each head.
        d_v (int): Value width of each head.
        h (int): Number of heads.
        dropout (float): Dropout on the attention probabilities. Default: 0.1.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Attention Is All You Need, NeurIPS 2017'
    paper_url = 'https://arxiv.org/abs/1706.03762'
    short_name = 'sdpa'
    family = 'mhsa'
    note = ("sequences `(B, N, C)`; the seed's mask semantics (True = masked); a fully masked row "
            'gives zeros, not NaN')
    _abbr_ = 'sdpa'
    _layout_ = 'BNC'

    def __init__(self,
                 d_model: int,
                 d_k: int,
                 d_v: int,
                 h: int,
                 dropout: float = 0.1,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = self.name
        self.d_model = check_positive_int(name, 'd_model', d_model)
        self.d_k = check_positive_int(name, 'd_k', d_k)
        self.d_v = check_positive_int(name, 'd_v', d_v)
        self.h = check_positive_int(name, 'h', h)
        self.dropout = check_probability(name, 'dropout', dropout)
        self.fc_q = nn.Linear(d_model, h * d_k)
        self.fc_k = nn.Linear(d_model, h * d_k)
        self.fc_v = nn.Linear(d_model, h * d_v)
        self.fc_o = nn.Linear(h * d_v, d_model)

    def forward(self,
                queries: Tensor,
                keys: Tensor,
                values: Tensor,
                attention_mask: Optional[Tensor] = None,
                attention_weights: Optional[Tensor] = None) -> Tensor:
        """``queries`` ``(B, nq, d_model)``, ``keys`` and ``values`` ``(B, nk, d_model)``;
        returns ``(B, nq, d_model)``."""
        _check_sequences(self.name, self.d_model, self.h, queries, keys, values,
                         attention_mask, attention_weights)
        B, nq = queries.shape[:2]
        nk = keys.shape[1]
        q = self.fc_q(queries).view(B, nq, self.h, self.d_k).transpose(1, 2)  # [B, h, nq, d_k]
        k = self.fc_k(keys).view(B, nk, self.h, self.d_k).transpose(1, 2)  # [B, h, nk, d_k]
        v = self.fc_v(values).view(B, nk, self.h, self.d_v).transpose(1, 2)  # [B, h, nk, d_v]
        out = attend(q, k, v, attention_mask, attention_weights,
                     self.dropout if self.training else 0.)  # [B, h, nq, d_v]
        return self.fc_o(out.transpose(1, 2).reshape(B, nq, self.h * self.d_v))


@ROOT_MODELS.register_module()
class SimplifiedScaledDotProductAttention(AttentionBase):
    """Multi-head scaled dot-product attention without query, key and value maps.

    The inputs are split into ``h`` heads of ``d_model / h`` channels as they
    are; only the output Linear ``d_model -> d_model`` has weights. Mask and
    weights as in :class:`ScaledDotProductAttention`.

    Args:
        d_model (int): Width of the tokens, divisible by ``h``.
        h (int): Number of heads.
        dropout (float): Dropout on the attention probabilities. Default: 0.1.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    paper = 'Attention Is All You Need, NeurIPS 2017'
    paper_url = 'https://arxiv.org/abs/1706.03762'
    short_name = 'ssdpa'
    family = 'mhsa'
    note = 'as ScaledDotProductAttention, without the q/k/v projections'
    _abbr_ = 'ssdpa'
    _layout_ = 'BNC'

    def __init__(self,
                 d_model: int,
                 h: int,
                 dropout: float = 0.1,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = self.name
        self.d_model = check_positive_int(name, 'd_model', d_model)
        self.h = check_positive_int(name, 'h', h)
        if d_model % h:
            raise ValueError(f'{name}: d_model={d_model} must be divisible by h={h}')
        self.d_k = self.d_v = d_model // h
        self.dropout = check_probability(name, 'dropout', dropout)
        self.fc_o = nn.Linear(d_model, d_model)

    def forward(self,
                queries: Tensor,
                keys: Tensor,
                values: Tensor,
                attention_mask: Optional[Tensor] = None,
                attention_weights: Optional[Tensor] = None) -> Tensor:
        """``queries`` ``(B, nq, d_model)``, ``keys`` and ``values`` ``(B, nk, d_model)``;
        returns ``(B, nq, d_model)``."""
        _check_sequences(self.name, self.d_model, self.h, queries, keys, values,
                         attention_mask, attention_weights)
        B, nq = queries.shape[:2]
        nk = keys.shape[1]
        q = queries.reshape(B, nq, self.h, self.d_k).transpose(1, 2)  # [B, h, nq, d_k]
        k = keys.reshape(B, nk, self.h, self.d_k).transpose(1, 2)  # [B, h, nk, d_k]
        v = values.reshape(B, nk, self.h, self.d_v).transpose(1, 2)  # [B, h, nk, d_v]
        out = attend(q, k, v, attention_mask, attention_weights,
                     self.dropout if self.training else 0.)  # [B, h, nq, d_v]
        return self.fc_o(out.transpose(1, 2).reshape(B, nq, self.d_model))


def _check_sequences(module: str, d_model: int, heads: int, queries: Tensor, keys: Tensor,
                     values: Tensor, attention_mask: Optional[Tensor] = None,
                     attention_weights: Optional[Tensor] = None) -> None:
    for name, t in (('queries', queries), ('keys', keys), ('values', values)):
        check_tensor(module, t, name)
    shapes = [tuple(t.shape) for t in (queries, keys, values)]
    if (any(len(s) != 3 or s[2] != d_model for s in shapes) or shapes[1] != shapes[2]
            or shapes[0][0] != shapes[1][0]):
        raise ValueError(
            f'{module}: expected queries (B, nq, {d_model}) and keys, values (B, nk, '
            f'{d_model}), got {shapes[0]}, {shapes[1]}, {shapes[2]}')
    if attention_mask is not None and (not isinstance(attention_mask, Tensor)
                                       or attention_mask.dtype != torch.bool):
        got = getattr(attention_mask, 'dtype', type(attention_mask).__name__)
        raise TypeError(f'{module}: attention_mask must be a bool tensor (True = masked), '
                        f'got {got}')
    if attention_weights is not None:
        check_tensor(module, attention_weights, 'attention_weights')
    if sizes_are_symbolic():
        return  # comparing the sizes would guard or freeze the example's
    scores = (shapes[0][0], heads, shapes[0][1], shapes[1][1])  # (B, h, nq, nk)
    for name, t in (('attention_mask', attention_mask),
                    ('attention_weights', attention_weights)):
        if t is not None:
            _check_broadcasts_to(module, name, tuple(t.shape), scores)


def _check_broadcasts_to(module: str, name: str, shape: Tuple[int, ...],
                         scores: Tuple[int, ...]) -> None:
    """A mask or weights must broadcast to the scores ``(B, h, nq, nk)`` without enlarging
    them: at most 4 dims, each 1 or the scores' size (aligned from the right, as
    broadcasting aligns them), so that every query-key score gets one value."""
    if len(shape) > 4 or any(s not in (1, full) for s, full in zip(shape[::-1], scores[::-1])):
        raise ValueError(
            f'{module}: {name} of shape {shape} must broadcast to the attention scores '
            f'(B, h, nq, nk) = {scores}: at most 4 dims, each 1 or the size it stands for '
            f'(e.g. (B, 1, nq, nk), (nq, nk) or (B, 1, 1, nk))')
