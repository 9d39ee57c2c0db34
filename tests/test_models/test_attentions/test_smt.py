import math

import pytest
import torch

from mmattn import ScaleAwareModulation
from mmattn.analysis.baselines import BASELINES
from tests.conftest import cpu_half_dtypes
from .helpers import (check_batch_independent_and_backward, check_in_bottleneck_and_fpn,
                      check_same_as_baseline, check_trace_and_onnx, naive_bn, naive_grouped_conv,
                      randomize)

# The BN statistics these tests were written with: N(0, 1) means, U(0.5, 2.5) variances.
BN_STATS = dict(bn_mean_std=1.0, bn_var_range=(0.5, 2.5))


def naive_sam(x, m):
    """SAM in float64: linear maps, one depthwise conv per head, channels regrouped one by one,
    grouped 1x1, BN, exact GELU, 1x1, modulation, output projection."""
    B, C, H, W = x.shape
    heads, ch = m.num_heads, C // m.num_heads
    x = x.double()

    def linear(layer, t):
        out = torch.einsum('oc,bchw->bohw', layer.weight.double(), t)
        return out if layer.bias is None else out + layer.bias.double().view(1, -1, 1, 1)

    v, s = linear(m.v, x), linear(m.s, x)
    convs = [naive_grouped_conv(s[:, i * ch:(i + 1) * ch], conv.weight, ch)
             + conv.bias.double().view(1, -1, 1, 1) for i, conv in enumerate(m.local_convs)]
    regrouped = torch.empty(B, C, H, W, dtype=torch.double)
    for g in range(ch):
        for i in range(heads):
            regrouped[:, g * heads + i] = convs[i][:, g]
    z = naive_grouped_conv(regrouped, m.proj0.weight, ch) + m.proj0.bias.double().view(1, -1, 1, 1)
    z = naive_bn(z, m.bn)
    z = 0.5 * z * (1 + torch.erf(z / math.sqrt(2)))
    modulator = torch.einsum('oc,bchw->bohw', m.proj1.weight[:, :, 0, 0].double(), z)
    modulator = modulator + m.proj1.bias.double().view(1, -1, 1, 1)
    out = modulator * v
    return linear(m.proj, out) if isinstance(m.proj, torch.nn.Linear) else out


@pytest.mark.parametrize('shape,kwargs', [
    ((1, 8, 1, 1), {}),
    ((3, 8, 3, 5), {}),
    ((3, 16, 7, 9), {}),
    ((1, 12, 7, 9), dict(num_heads=3, expand_ratio=3, qkv_bias=False)),
    ((3, 8, 5, 4), dict(num_heads=2, out_proj=False)),
    ((1, 6, 12, 11), dict(num_heads=6, expand_ratio=1)),
])
def test_sam_matches_naive(shape, kwargs):
    m = randomize(ScaleAwareModulation(shape[1], **kwargs), std=0.3, **BN_STATS).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
        tokens = m.forward_tokens(x.flatten(2).transpose(1, 2), shape[2:])
    ref = naive_sam(x, m)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tokens.double(), ref.flatten(2).transpose(1, 2), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize('train', [False, True])
def test_sam_equals_the_seed_baseline_with_its_weights(train):
    m = randomize(ScaleAwareModulation(16), std=0.3, **BN_STATS).train(train)
    base = BASELINES.build(dict(type='ScaleAwareModulation', in_channels=16)).train(train)
    base.load_state_dict(m.state_dict())
    x = torch.randn(3, 16, 6, 7)
    check_same_as_baseline(m, base, x, out_tol=(1e-5, 1e-4), input_grad_tol=(1e-4, 1e-4),
                           param_grad_tol=(1e-4, 1e-3))
    tokens = x.flatten(2).transpose(1, 2)
    torch.testing.assert_close(m.forward_tokens(tokens, (6, 7)),
                               base.forward_tokens(tokens, (6, 7)), rtol=1e-5, atol=1e-4)


def test_sam_parameter_count():
    c, heads, e = 64, 4, 2
    ch = c // heads
    expected = (2 * (c * c + c)  # v, s
                + sum(ch * (3 + 2 * i)**2 + ch for i in range(heads))  # depthwise heads
                + c * e * heads + c * e  # grouped 1x1: each output sees one channel per head
                + 2 * c * e  # BN
                + c * e * c + c  # 1x1 back to C
                + c * c + c)  # output projection
    assert sum(p.numel() for p in ScaleAwareModulation(c).parameters()) == expected
    no_extras = ScaleAwareModulation(c, qkv_bias=False, out_proj=False)
    assert sum(p.numel() for p in no_extras.parameters()) == expected - 2 * c - (c * c + c)


def test_sam_low_precision():
    m = randomize(ScaleAwareModulation(8), std=0.2, **BN_STATS).eval()
    with torch.no_grad():
        # The output is quadratic in the input: bf16 has the range for inputs of 1e3; fp16
        # (max 65504) for inputs whose fp32 output fits in it.
        for dtype, scale in ((torch.bfloat16, 1e3), (torch.float16, 10.))[:len(cpu_half_dtypes())]:
            x = torch.randn(2, 8, 6, 5) * scale
            ref = m(x)
            assert ref.abs().max() < torch.finfo(dtype).max / 4
            y = m.to(dtype)(x.to(dtype))
            m.float()
            assert y.dtype == dtype and torch.isfinite(y).all()
            assert (y.float() - ref).abs().max() / ref.abs().max() < 0.1


def test_sam_batch_independent_channels_last_and_backward():
    check_batch_independent_and_backward(randomize(ScaleAwareModulation(8), std=0.3, **BN_STATS),
                                         torch.randn(3, 8, 5, 7), channels_last=True)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=10), ValueError,
     r'ScaleAwareModulation: in_channels=10 must be divisible by num_heads=4'),
    (dict(in_channels=8, num_heads=0), ValueError, r'ScaleAwareModulation: num_heads=0'),
    (dict(in_channels=8, expand_ratio=1.5), TypeError,
     r'ScaleAwareModulation: expand_ratio must be an int'),
])
def test_sam_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ScaleAwareModulation(**kwargs)


def test_sam_rejects_bad_input():
    m = ScaleAwareModulation(8)
    with pytest.raises(ValueError, match=r'ScaleAwareModulation: expected an input of shape'):
        m(torch.randn(2, 16, 4, 4))
    with pytest.raises(ValueError, match=r'forward_tokens expected tokens of shape \(B, 12, 8\)'):
        m.forward_tokens(torch.randn(2, 13, 8), (3, 4))


@pytest.mark.integration
def test_sam_in_bottleneck_and_on_fpn_levels():
    check_in_bottleneck_and_fpn(dict(type='ScaleAwareModulation'))


def test_sam_trace_and_onnx():
    m = randomize(ScaleAwareModulation(8), std=0.3, **BN_STATS)
    check_trace_and_onnx(m, torch.randn(1, 8, 5, 6))
