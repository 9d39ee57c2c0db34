import pytest
import torch

from mmattn import TripletAttention
from mmattn.analysis.params import resnet50_classifier_params
from .helpers import (assert_finite_grads, check_batch_independent_and_backward,
                      check_layouts_dtypes_and_trace, naive_grouped_conv, randomize,
                      resnet50_with_plugin)


def naive_gate(z, conv, bn):
    """Official AttentionGate on a rotated tensor z (B, D, P, Q): Z-pool over D, conv, BN."""
    pooled = torch.stack((z.max(1).values, z.sum(1) / z.shape[1]), dim=1)  # max first
    y = naive_grouped_conv(pooled, conv.weight)
    y = (y - bn.running_mean.double()) / torch.sqrt(bn.running_var.double() + bn.eps)
    y = y * bn.weight.double() + bn.bias.double()
    return z / (1 + torch.exp(-y))


def naive_triplet(x, m):
    """The official permute-based triplet attention in float64."""
    x = x.double()
    out_cw = naive_gate(x.permute(0, 2, 1, 3), m.cw.conv, m.cw.bn).permute(0, 2, 1, 3)
    out_hc = naive_gate(x.permute(0, 3, 2, 1), m.hc.conv, m.hc.bn).permute(0, 3, 2, 1)
    if m.no_spatial:
        return (out_cw + out_hc) / 2
    return (out_cw + out_hc + naive_gate(x, m.hw.conv, m.hw.bn)) / 3


def random_eval(m):
    """Non-trivial weights, BN affine (weights around 1) and running statistics; eval mode."""
    return randomize(m, norm_weight_mean=1.0).eval()


@pytest.mark.parametrize('shape,kernel_size,no_spatial', [
    ((1, 4, 1, 1), 7, False),
    ((3, 8, 3, 5), 7, False),
    ((1, 5, 7, 9), 7, False),
    ((3, 16, 7, 9), 7, True),
    ((3, 6, 9, 4), 3, False),
    ((2, 12, 11, 13), 5, True),
])
def test_triplet_matches_naive(shape, kernel_size, no_spatial):
    m = random_eval(TripletAttention(shape[1], kernel_size=kernel_size, no_spatial=no_spatial))
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_triplet(x, m), rtol=1e-5, atol=1e-5)


def test_triplet_branches_are_not_interchangeable():
    # The H-C branch convolves the (H, C) plane: its kernel must not be applied transposed.
    m = random_eval(TripletAttention(6))
    x = torch.randn(2, 6, 5, 8)
    with torch.no_grad():
        y = m(x)
        m.hc.conv.weight.copy_(m.hc.conv.weight.transpose(2, 3).clone())
        y_t = m(x)
    assert not torch.allclose(y, y_t)
    torch.testing.assert_close(y_t.double(), naive_triplet(x, m), rtol=1e-5, atol=1e-5)


def test_triplet_parameters_and_layers():
    m = TripletAttention(256)
    assert sum(p.numel() for p in m.parameters()) == 3 * (2 * 7 * 7 + 2)
    assert sum(p.numel() for p in TripletAttention(256, no_spatial=True).parameters()) == 200
    assert not hasattr(TripletAttention(8, no_spatial=True), 'hw')
    for branch in (m.cw, m.hc, m.hw):
        assert branch.conv.bias is None and branch.conv.kernel_size == (7, 7)
        assert branch.bn.momentum == 0.01 and not branch.with_activation
    assert sum(p.numel() for p in TripletAttention(8, norm_cfg=None).parameters()) == 3 * 99


def test_triplet_batch_independent_and_backward():
    check_batch_independent_and_backward(random_eval(TripletAttention(8)), torch.randn(3, 8, 5, 7))


def test_triplet_layouts_dtypes_and_trace():
    check_layouts_dtypes_and_trace(random_eval(TripletAttention(16)), torch.randn(2, 16, 7, 9))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=0), ValueError, r'TripletAttention: in_channels=0 must be >= 1'),
    (dict(in_channels=8, kernel_size=4), ValueError,
     r'TripletAttention: kernel_size=4 must be odd'),
    (dict(in_channels=8, kernel_size=0), ValueError, r'TripletAttention: kernel_size=0'),
    (dict(in_channels=8.0), TypeError, r'TripletAttention: in_channels must be an int'),
])
def test_triplet_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        TripletAttention(**kwargs)


def test_triplet_rejects_bad_input():
    with pytest.raises(ValueError, match=r'TripletAttention: expected an input of shape'):
        TripletAttention(8)(torch.randn(1, 4, 5, 5))


def test_triplet_resnet50_has_the_papers_parameter_count():
    with_triplet = resnet50_classifier_params(plugins=[
        dict(cfg=dict(type='TripletAttention'), stages=(True, True, True, True),
             position='after_conv3')
    ])
    # 16 bottlenecks x 3 gates x (2 * 7 * 7 conv weights + 2 BN affine).
    assert with_triplet == 25_557_032 + 16 * 300 == 25_561_832
    assert round(with_triplet / 1e6, 2) == 25.56  # the paper's Table 2


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_triplet_in_every_bottleneck_position(position):
    m = resnet50_with_plugin(TripletAttention, position).layer4[0].triplet
    assert m.in_channels == (512 if position != 'after_conv3' else 2048)
    assert_finite_grads(m.hw.conv.weight)


def test_triplet_gradient_matches_naive():
    # With x requiring grad, Z-pool takes max(dim) (index backward) instead of amax.
    m = random_eval(TripletAttention(6))
    x = torch.randn(2, 6, 5, 7, requires_grad=True)
    y = m(x)
    g = torch.randn_like(y)
    y.backward(g)
    x64 = x.detach().double().requires_grad_(True)
    ref = naive_triplet(x64, m)
    ref.backward(g.double())
    torch.testing.assert_close(y.detach().double(), ref.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-5, atol=1e-5)
