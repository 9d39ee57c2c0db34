import pytest
import torch

from mmattn import CoTAttention
from mmattn.analysis.baselines import BASELINES
from tests.conftest import cpu_half_dtypes
from .helpers import (check_batch_independent_and_backward, check_in_bottleneck_and_fpn,
                      check_same_as_baseline, check_trace_and_onnx, naive_bn, naive_grouped_conv,
                      randomize)

# The BN statistics these tests were written with: N(0, 1) means, U(0.5, 2.5) variances.
BN_STATS = dict(bn_mean_std=1.0, bn_var_range=(0.5, 2.5))


def naive_cot(x, m):
    """The paper's CoT block in float64: C*k*k attention maps, their mean, softmax over HW."""
    B, C, H, W = x.shape
    k = m.kernel_size
    x = x.double()
    k1 = naive_grouped_conv(x, m.key_embed.conv.weight, m.groups)
    k1 = torch.relu(naive_bn(k1, m.key_embed.bn))
    v = naive_bn(torch.einsum('oc,bchw->bohw', m.value_embed.conv.weight[:, :, 0, 0].double(), x),
                 m.value_embed.bn)
    y = torch.cat([k1, x], 1)
    a = torch.einsum('oc,bchw->bohw', m.attention_embed.conv.weight[:, :, 0, 0].double(), y)
    a = torch.relu(naive_bn(a, m.attention_embed.bn))
    att = torch.einsum('oc,bchw->bohw', m.attention_out.weight[:, :, 0, 0].double(), a)
    att = att + m.attention_out.bias.double().view(1, -1, 1, 1)
    att = att.view(B, C, k * k, H, W).mean(2).view(B, C, H * W)
    att = torch.exp(att - att.max(-1, keepdim=True).values)
    att = att / att.sum(-1, keepdim=True)
    return k1 + att.view(B, C, H, W) * v


@pytest.mark.parametrize('shape,kwargs', [
    ((1, 8, 1, 1), {}),
    ((3, 8, 3, 5), {}),
    ((3, 16, 7, 9), {}),
    ((1, 12, 5, 6), dict(kernel_size=5)),
    ((3, 8, 4, 4), dict(kernel_size=1, groups=2, reduction=2)),
])
def test_cot_matches_naive(shape, kwargs):
    m = randomize(CoTAttention(shape[1], **kwargs), std=0.3, **BN_STATS).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_cot(x, m), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('train', [False, True])
def test_cot_equals_the_seed_baseline_with_its_weights(train):
    m = randomize(CoTAttention(16), std=0.3, **BN_STATS).train(train)
    base = BASELINES.build(dict(type='CoTAttention', in_channels=16)).train(train)
    base.load_state_dict(m.state_dict())
    check_same_as_baseline(m, base, torch.randn(3, 16, 6, 7), out_tol=(1e-5, 1e-5),
                           input_grad_tol=(1e-4, 1e-5), param_grad_tol=(1e-4, 1e-5))


def test_cot_parameter_count_keeps_the_papers_layout():
    c, k = 256, 3
    m = CoTAttention(c)
    assert m.attention_out.weight.shape == (c * k * k, c // 2, 1, 1)
    expected = (c * (c // 4) * k * k + 2 * c  # key: grouped conv, BN
                + c * c + 2 * c  # value: 1x1, BN
                + 2 * c * (c // 2) + 2 * (c // 2)  # attention: 1x1, BN
                + (c // 2) * c * k * k + c * k * k)  # attention: 1x1 to C*k*k with bias
    assert sum(p.numel() for p in m.parameters()) == expected == 577_024


def test_cot_softmax_is_stable_in_half_precision():
    m = randomize(CoTAttention(8), std=1.0, **BN_STATS).eval()
    x = torch.randn(2, 8, 6, 5) * 1e3
    with torch.no_grad():
        ref = m(x)
        assert torch.isfinite(ref).all()
        for dtype in cpu_half_dtypes():
            y = m.to(dtype)(x.to(dtype))
            assert y.dtype == dtype and torch.isfinite(y).all()
            m.float()


def test_cot_batch_independent_channels_last_and_backward():
    check_batch_independent_and_backward(randomize(CoTAttention(8), std=0.3, **BN_STATS),
                                         torch.randn(3, 8, 5, 7), channels_last=True)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=6), ValueError, r'CoTAttention: in_channels=6 must be divisible by groups=4'),
    (dict(in_channels=8, kernel_size=4), ValueError, r'CoTAttention: kernel_size=4 must be odd'),
    (dict(in_channels=0), ValueError, r'CoTAttention: in_channels=0 must be >= 1'),
    (dict(in_channels=8.0), TypeError, r'CoTAttention: in_channels must be an int'),
    (dict(in_channels=4, reduction=16), ValueError, r'CoTAttention: reduction=16 leaves no'),
])
def test_cot_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        CoTAttention(**kwargs)


def test_cot_rejects_bad_input():
    with pytest.raises(ValueError,
                       match=r'CoTAttention: expected an input of shape \(B, 8, H, W\)'):
        CoTAttention(8)(torch.randn(2, 16, 4, 4))


@pytest.mark.integration
def test_cot_in_bottleneck_and_on_fpn_levels():
    check_in_bottleneck_and_fpn(dict(type='CoTAttention'))


def test_cot_trace_and_onnx():
    check_trace_and_onnx(randomize(CoTAttention(8), std=0.3, **BN_STATS), torch.randn(1, 8, 5, 6))
