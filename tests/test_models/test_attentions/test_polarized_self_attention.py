import pytest
import torch

from mmattn import ROOT_MODELS, PolarizedSelfAttention
from mmattn.analysis.params import resnet50_classifier_params
from tests.conftest import cpu_half_dtypes
from .helpers import (assert_finite_grads, check_batch_independent_and_backward, randomize,
                      resnet50_with_plugin)


def naive_conv1x1(conv, x):
    """A 1x1 convolution of x (B, C, P) written as an einsum, float64."""
    out = torch.einsum('oc,bcp->bop', conv.weight.double()[:, :, 0, 0], x)
    if conv.bias is not None:
        out = out + conv.bias.double()[None, :, None]
    return out


def naive_channel_gate(x, m):
    """The paper's channel-only branch, unreassociated: (B, C, 1)."""
    wv = naive_conv1x1(m.ch_wv, x)  # (B, C/2, P)
    wq = naive_conv1x1(m.ch_wq, x)[:, 0]  # (B, P)
    q = torch.exp(wq - wq.amax(1, keepdim=True))
    q = q / q.sum(1, keepdim=True)
    z = torch.einsum('bop,bp->bo', wv, q)[:, :, None]  # (B, C/2, 1)
    z = naive_conv1x1(m.ch_wz, z)[:, :, 0]  # (B, C)
    mean = z.mean(1, keepdim=True)
    var = ((z - mean)**2).mean(1, keepdim=True)
    z = (z - mean) / torch.sqrt(var + m.ln.eps) * m.ln.weight.double() + m.ln.bias.double()
    return torch.sigmoid(z)[:, :, None]


def naive_spatial_gate(x, m):
    """The paper's spatial-only branch, unreassociated: (B, 1, P)."""
    wq = naive_conv1x1(m.sp_wq, x).mean(2)  # (B, C/2): GAP after the 1x1 convolution
    q = wq.softmax(dim=1)
    wv = naive_conv1x1(m.sp_wv, x)  # (B, C/2, P)
    return torch.sigmoid(torch.einsum('bo,bop->bp', q, wv))[:, None]


def naive_polarized(x, m):
    B, C, H, W = x.shape
    x = x.double().reshape(B, C, H * W)
    if m.mode == 'parallel':
        out = x * naive_channel_gate(x, m) + x * naive_spatial_gate(x, m)
    else:
        y = x * naive_channel_gate(x, m)
        out = y * naive_spatial_gate(y, m)
    return out.reshape(B, C, H, W)


def random_eval(m):
    """Random weights, the LayerNorm weight around 1; eval mode."""
    return randomize(m, std=0.3, norm_weight_mean=1.0, norm_weight_std=0.5).eval()


@pytest.mark.parametrize('shape,kwargs', [
    ((1, 2, 1, 1), dict()),
    ((3, 8, 3, 5), dict()),
    ((1, 16, 7, 9), dict(mode='sequential')),
    ((3, 16, 7, 9), dict(bias=True)),
    ((3, 10, 7, 9), dict(mode='sequential', bias=True)),
    ((2, 32, 12, 5), dict(bias=True)),
])
def test_polarized_matches_naive(shape, kwargs):
    m = random_eval(PolarizedSelfAttention(shape[1], **kwargs))
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_polarized(x, m), rtol=1e-5, atol=1e-5)


def test_polarized_branches_separately():
    m = random_eval(PolarizedSelfAttention(12, bias=True))
    x = torch.randn(2, 12, 5, 6)
    with torch.no_grad():
        ch, sp = m.channel_gate(x), m.spatial_gate(x)
    x64 = x.double().reshape(2, 12, 30)
    assert ch.shape == (2, 12, 1, 1) and sp.shape == (2, 1, 5, 6)
    # float32 gates against float64 references: the suite's tolerance, 1e-5
    torch.testing.assert_close(ch.double().reshape(2, 12, 1), naive_channel_gate(x64, m),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sp.double().reshape(2, 1, 30), naive_spatial_gate(x64, m),
                               rtol=1e-5, atol=1e-5)


def test_polarized_parameter_counts():
    c = 256
    # Wv, Wz, spatial Wq and Wv: C * C/2 each; channel Wq: C; LayerNorm: 2C.
    assert sum(p.numel() for p in PolarizedSelfAttention(c).parameters()) == 2 * c * c + 3 * c
    with_bias = sum(p.numel() for p in PolarizedSelfAttention(c, bias=True).parameters())
    assert with_bias == 2 * c * c + 3 * c + (c // 2 + 1 + c + c // 2 + c // 2)


def test_polarized_name_is_not_psa():
    assert ROOT_MODELS.get('PolarizedSelfAttention') is PolarizedSelfAttention
    psa = ROOT_MODELS.module_dict.get('PSA')
    assert psa is None or not psa.__module__.startswith('mmattn')


def test_polarized_batch_independent_and_backward():
    m = random_eval(PolarizedSelfAttention(16, mode='sequential', bias=True))
    check_batch_independent_and_backward(m, torch.randn(3, 16, 5, 7))


@pytest.mark.parametrize('mode', ['parallel', 'sequential'])
def test_polarized_layouts_dtypes_and_trace(mode):
    m = random_eval(PolarizedSelfAttention(16, mode=mode, bias=True))
    x = torch.randn(2, 16, 15, 9)
    with torch.no_grad():
        y = m(x)
        torch.testing.assert_close(m(x.to(memory_format=torch.channels_last)), y)
        traced = torch.jit.trace(m, x)
        x3 = torch.randn(3, 16, 15, 9)
        torch.testing.assert_close(traced(x3), m(x3))
        for dtype in cpu_half_dtypes():
            torch.testing.assert_close(m.to(dtype)(x.to(dtype)).float(), y, rtol=0.05,
                                       atol=0.05)
            m.float()
        # Large magnitudes: the HW softmax saturates but stays finite in bf16.
        big = m.to(torch.bfloat16)(x.to(torch.bfloat16) * 1e3)
        assert torch.isfinite(big).all()
        m.float()
        ref = naive_polarized(x * 1e3, m)
        assert torch.isfinite(ref).all()
        torch.testing.assert_close(m(x * 1e3).double(), ref, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=7), ValueError, r'PolarizedSelfAttention: in_channels=7 must be even'),
    (dict(in_channels=0), ValueError, r'PolarizedSelfAttention: in_channels=0 must be >= 1'),
    (dict(in_channels=8, mode='serial'), ValueError,
     r"PolarizedSelfAttention: mode='serial' must be one of"),
    (dict(in_channels='8'), TypeError, r'PolarizedSelfAttention: in_channels must be an int'),
])
def test_polarized_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PolarizedSelfAttention(**kwargs)


def test_polarized_rejects_bad_input():
    with pytest.raises(ValueError, match=r'PolarizedSelfAttention: expected an input'):
        PolarizedSelfAttention(8)(torch.randn(1, 4, 5, 5))


def test_polarized_resnet50_parameter_count():
    with_psa = resnet50_classifier_params(plugins=[
        dict(cfg=dict(type='PolarizedSelfAttention'), stages=(True, True, True, True),
             position='after_conv3')
    ])
    extra = sum(n * (2 * c * c + 3 * c) for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
    assert with_psa == 25_557_032 + extra == 65_841_448
    assert round(with_psa / 1e6, 2) == 65.84


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_polarized_in_every_bottleneck_position(position):
    m = resnet50_with_plugin(PolarizedSelfAttention, position).layer4[0].polarized_sa
    assert_finite_grads(m.sp_wv.weight)
