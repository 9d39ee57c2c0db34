import io
import math
import warnings

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmattn import (MultiHeadSelfAttention2d, ScaledDotProductAttention,
                    SimplifiedScaledDotProductAttention)
from mmattn.compat import onnx_export
from tests.conftest import cpu_half_dtypes
from .helpers import (check_batch_independent_and_backward, check_in_bottleneck_and_fpn,
                      check_trace_and_onnx, randomize)


def naive_attention(q, k, v, mask=None, weights=None):
    """Row by row in float64, the seed's order: scores / sqrt(d_k), times weights, mask to
    -inf, softmax over keys. A query with every key masked is defined to output zeros."""
    B, h, nq, dk = q.shape
    q, k, v = q.double(), k.double(), v.double()
    scores = torch.einsum('bhqd,bhkd->bhqk', q, k) / math.sqrt(dk)
    if weights is not None:
        scores = scores * weights.double()
    mask = (torch.zeros(scores.shape, dtype=torch.bool) if mask is None
            else mask.expand(scores.shape))
    out = torch.zeros(B, h, nq, v.shape[-1], dtype=torch.double)
    for b in range(B):
        for i in range(h):
            for j in range(nq):
                keep = ~mask[b, i, j]
                if not keep.any():
                    continue
                s = scores[b, i, j][keep]
                p = torch.exp(s - s.max())
                out[b, i, j] = (p / p.sum()) @ v[b, i][keep]
    return out


def linear64(layer, t):
    out = t.double() @ layer.weight.double().t()
    return out if layer.bias is None else out + layer.bias.double()


def naive_mhsa2d(x, m):
    B, C, H, W = x.shape
    h = m.num_heads
    tokens = x.double().flatten(2).transpose(1, 2)  # [B, N, C]
    qkv = linear64(m.qkv, tokens).view(B, H * W, 3, h, C // h).permute(2, 0, 3, 1, 4)
    out = naive_attention(*qkv).transpose(1, 2).reshape(B, H * W, C)
    out = linear64(m.proj, out).transpose(1, 2).reshape(B, C, H, W)
    return x.double() + out if m.residual else out


@pytest.mark.parametrize('shape,kwargs', [
    ((1, 8, 1, 1), dict(num_heads=2)),
    ((3, 8, 3, 5), dict(num_heads=2)),
    ((3, 16, 7, 9), {}),
    ((1, 12, 7, 9), dict(num_heads=3, residual=False, zero_init=False)),
    ((3, 8, 4, 6), dict(num_heads=1, qkv_bias=False)),
])
def test_mhsa2d_matches_naive(shape, kwargs):
    m = randomize(MultiHeadSelfAttention2d(shape[1], **kwargs), std=0.3).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_mhsa2d(x, m), rtol=1e-5, atol=1e-5)


def test_mhsa2d_starts_as_identity_and_learns():
    m = MultiHeadSelfAttention2d(16)
    x = torch.randn(2, 16, 5, 6, requires_grad=True)
    y = m(x)
    torch.testing.assert_close(y, x)
    y.square().sum().backward()
    assert m.proj.weight.grad.abs().sum() > 0
    assert not torch.equal(MultiHeadSelfAttention2d(16, zero_init=False)(x), x)
    assert MultiHeadSelfAttention2d(16, residual=False).zero_init is False


class _Parent(BaseModule):

    def __init__(self, init_cfg):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(3, 16, 3)
        self.attention = MultiHeadSelfAttention2d(16)


def test_mhsa2d_zero_init_survives_kaiming_and_pretrained_parents(tmp_path):
    parent = _Parent(dict(type='Kaiming', layer=['Conv2d', 'Linear']))
    parent.init_weights()
    assert parent.attention.qkv.weight.abs().sum() > 0  # Kaiming reached the subtree
    assert parent.attention.proj.weight.abs().sum() == 0
    assert parent.attention.proj.bias.abs().sum() == 0

    # A checkpoint without the plugin (an ImageNet backbone): its layers load, the
    # plugin keeps its own initialisation.
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {'conv.weight': torch.ones(16, 3, 3, 3),
                               'conv.bias': torch.zeros(16)}}, path)
    parent = _Parent(dict(type='Pretrained', checkpoint=str(path)))
    parent.init_weights()
    assert torch.equal(parent.conv.weight, torch.ones(16, 3, 3, 3))
    assert parent.attention.proj.weight.abs().sum() == 0
    assert parent.attention.proj.bias.abs().sum() == 0


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=12), ValueError,
     r'MultiHeadSelfAttention2d: in_channels=12 must be divisible by num_heads=8'),
    (dict(in_channels=16, residual=False, zero_init=True), ValueError,
     r'MultiHeadSelfAttention2d: zero_init=True needs residual=True'),
    (dict(in_channels=16, attn_drop=1.0), ValueError,
     r'MultiHeadSelfAttention2d: attn_drop=1.0 must be in \[0, 1\)'),
    (dict(in_channels=16, num_heads=0), ValueError, r'MultiHeadSelfAttention2d: num_heads=0'),
])
def test_mhsa2d_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        MultiHeadSelfAttention2d(**kwargs)


def test_mhsa2d_batch_independent_channels_last_low_precision():
    m = randomize(MultiHeadSelfAttention2d(16), std=0.3)
    x = torch.randn(3, 16, 5, 7)
    check_batch_independent_and_backward(m, x, channels_last=True)
    m.eval()
    with torch.no_grad():
        big = x * 1e3
        assert torch.isfinite(m(big)).all()
        for dtype in cpu_half_dtypes():
            out = m.to(dtype)(big.to(dtype))
            m.float()
            assert out.dtype == dtype and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r'MultiHeadSelfAttention2d: expected an input'):
        m(torch.randn(2, 8, 3, 3))


@pytest.mark.integration
def test_mhsa2d_in_bottleneck_and_on_fpn_levels():
    check_in_bottleneck_and_fpn(dict(type='MultiHeadSelfAttention2d', zero_init=False))


def test_mhsa2d_trace_and_onnx():
    m = randomize(MultiHeadSelfAttention2d(16, num_heads=4), std=0.3)
    check_trace_and_onnx(m, torch.randn(1, 16, 5, 6))


# Sequence forms.

def _masks(B, h, nq, nk):
    """A per-head mask with a fully masked query row, and a broadcast (nq, nk) one."""
    per_head = torch.rand(B, h, nq, nk) < 0.4
    per_head[0, 0, 1] = True
    per_head[-1, -1, 0] = True
    shared = torch.rand(nq, nk) < 0.3
    shared[2] = True
    return [None, per_head, shared]


def _seq_reference(m, queries, keys, values, mask, weights):
    B, nq, _ = queries.shape
    nk = keys.shape[1]
    if isinstance(m, ScaledDotProductAttention):
        q = linear64(m.fc_q, queries).view(B, nq, m.h, m.d_k).transpose(1, 2)
        k = linear64(m.fc_k, keys).view(B, nk, m.h, m.d_k).transpose(1, 2)
        v = linear64(m.fc_v, values).view(B, nk, m.h, m.d_v).transpose(1, 2)
    else:
        q, k, v = (t.double().view(B, -1, m.h, m.d_k).transpose(1, 2)
                   for t in (queries, keys, values))
    out = naive_attention(q, k, v, mask, weights).transpose(1, 2).reshape(B, nq, -1)
    return linear64(m.fc_o, out)


@pytest.mark.parametrize('use_weights', [False, True], ids=['sdpa', 'weights'])
@pytest.mark.parametrize('mask_index', [0, 1, 2], ids=['no-mask', 'mask', 'shared-mask'])
@pytest.mark.parametrize('cls', [ScaledDotProductAttention, SimplifiedScaledDotProductAttention])
@pytest.mark.parametrize('B', [1, 3])
def test_sequence_forms_match_naive(cls, B, mask_index, use_weights):
    d_model, h, nq, nk = 16, 4, 5, 7
    m = (ScaledDotProductAttention(d_model, d_k=3, d_v=5, h=h) if cls is ScaledDotProductAttention
         else SimplifiedScaledDotProductAttention(d_model, h))
    m = randomize(m, std=0.3).eval()
    queries, keys, values = (torch.randn(B, n, d_model) for n in (nq, nk, nk))
    mask = _masks(B, h, nq, nk)[mask_index]
    weights = torch.rand(B, h, nq, nk) * 2 if use_weights else None
    with torch.no_grad():
        out = m(queries, keys, values, attention_mask=mask, attention_weights=weights)
    ref = _seq_reference(m, queries, keys, values, mask, weights)
    assert out.shape == (B, nq, d_model)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('use_weights', [False, True])
def test_fully_masked_queries_give_finite_gradients(use_weights):
    m = ScaledDotProductAttention(8, 4, 4, 2)
    x = torch.randn(2, 6, 8, requires_grad=True)
    mask = torch.zeros(2, 2, 6, 6, dtype=torch.bool)
    mask[:, :, 3] = True
    weights = torch.rand(2, 2, 6, 6) if use_weights else None
    out = m(x, x, x, attention_mask=mask, attention_weights=weights)
    # The masked query row sees nothing: only the output bias is left.
    torch.testing.assert_close(out[:, 3], m.fc_o.bias.expand(2, 8))
    out.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


def test_sequence_forms_dropout_and_errors():
    m = ScaledDotProductAttention(8, 4, 4, 2)
    assert m.dropout == 0.1 and m._layout_ == 'BNC'
    x = torch.randn(2, 6, 8)
    m.train()
    assert not torch.equal(m(x, x, x), m(x, x, x))
    m.eval()
    torch.testing.assert_close(m(x, x, x), m(x, x, x))
    with pytest.raises(ValueError, match=r'SimplifiedScaledDotProductAttention: d_model=10 must '
                                         r'be divisible by h=4'):
        SimplifiedScaledDotProductAttention(10, 4)
    with pytest.raises(ValueError, match=r'ScaledDotProductAttention: expected queries'):
        m(x, x[:, :3], x)
    with pytest.raises(TypeError, match='attention_mask must be a bool tensor'):
        m(x, x, x, attention_mask=torch.zeros(6, 6))


def test_sequence_forms_low_precision():
    m = randomize(ScaledDotProductAttention(16, 4, 4, 4), std=0.3).eval()
    x = torch.randn(2, 9, 16) * 1e3
    mask = torch.rand(9, 9) < 0.3
    with torch.no_grad():
        ref = m(x, x, x, attention_mask=mask)
        assert torch.isfinite(ref).all()
        for dtype in cpu_half_dtypes():
            m.to(dtype)
            for weights in (None, torch.rand(9, 9, dtype=dtype)):
                out = m(x.to(dtype), x.to(dtype), x.to(dtype), attention_mask=mask,
                        attention_weights=weights)
                assert out.dtype == dtype and torch.isfinite(out).all()
            m.float()


@pytest.mark.parametrize('use_weights', [False, True])
def test_sequence_form_trace_and_onnx(use_weights):
    ort = pytest.importorskip('onnxruntime')
    m = randomize(ScaledDotProductAttention(16, 4, 4, 4), std=0.3).eval()
    x = torch.randn(2, 7, 16)
    mask = torch.rand(2, 4, 7, 7) < 0.3
    mask[0, 0, 2] = True
    weights = torch.rand(2, 4, 7, 7)
    args = (x, x, x, mask, weights) if use_weights else (x, x, x, mask)
    names = ['q', 'k', 'v', 'mask', 'weights'][:len(args)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ref = m(*args)
        torch.testing.assert_close(torch.jit.trace(m, args)(*args), ref)
        buf = io.BytesIO()
        onnx_export(m, args, buf, opset_version=17, input_names=names,
                    output_names=['out'])
    feeds = {n: a.numpy() for n, a in zip(names, args)}
    (out, ) = ort.InferenceSession(buf.getvalue()).run(None, feeds)
    torch.testing.assert_close(torch.from_numpy(out), ref, rtol=1e-4, atol=1e-5)
