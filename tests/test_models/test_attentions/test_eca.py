import math

import pytest
import torch
import torch.nn as nn

from mmattn import ECA
from mmattn.analysis.params import resnet50_classifier_params
from mmattn.models.attentions.eca import eca_kernel_size
from .helpers import assert_finite_grads, check_batch_independent_and_backward, resnet50_with_plugin

SHAPES = [(1, 16, 1, 1), (3, 16, 3, 5), (3, 24, 7, 9), (1, 64, 7, 9), (2, 5, 4, 4)]


def naive_eca(x, weight):
    """ECA with loops, in float64: channel means, a zero-padded 1D convolution, sigmoid."""
    B, C, H, W = x.shape
    k = weight.numel()
    w = weight.reshape(k).double()
    x = x.double()
    out = torch.empty_like(x)
    for b in range(B):
        s = [x[b, c].sum() / (H * W) for c in range(C)]
        for c in range(C):
            acc = torch.zeros((), dtype=torch.double)
            for j in range(k):
                src = c + j - (k - 1) // 2
                if 0 <= src < C:
                    acc = acc + w[j] * s[src]
            out[b, c] = x[b, c] / (1 + torch.exp(-acc))
    return out


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('kernel_size', [None, 1, 3, 7])
def test_eca_matches_naive(shape, kernel_size):
    eca = ECA(shape[1], kernel_size=kernel_size).eval()
    nn.init.normal_(eca.conv.weight, std=1.0)
    x = torch.randn(shape)
    with torch.no_grad():
        y = eca(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_eca(x, eca.conv.weight), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('channels,kernel_size', [
    (64, 3), (256, 5), (512, 5), (2048, 7),  # the paper's values for ResNet stages
    (128, 5), (1024, 5), (8, 3), (2, 1), (1, 1),
])
def test_eca_adaptive_kernel_size(channels, kernel_size):
    assert eca_kernel_size(channels) == kernel_size
    eca = ECA(channels)
    assert eca.kernel_size == kernel_size and eca.conv.kernel_size == (kernel_size, )
    assert eca.conv.padding == ((kernel_size - 1) // 2, )


@pytest.mark.parametrize('channels', [64, 256, 512, 2048, 100, 3])
def test_eca_adaptive_kernel_is_the_papers_nearest_odd(channels):
    # t = log2(C)/gamma + b/gamma; |t|_odd is the odd number nearest t, with a tie
    # (t even, as for 2048: t = 6) going up, as the official code does.
    t = math.log2(channels) / 2 + 1 / 2
    expected = int(t) + 1 if int(t) % 2 == 0 else int(t)
    assert eca_kernel_size(channels) == expected
    assert abs(eca_kernel_size(channels) - t) <= 1


def test_eca_gamma_b_and_explicit_kernel():
    assert ECA(256, gamma=3, b=2).kernel_size == 3  # int((8 + 2) / 3) = 3
    assert ECA(256, gamma=1, b=0).kernel_size == 9  # 8 is even: 9
    assert ECA(2048, kernel_size=3).kernel_size == 3
    # No bias (official code), one weight per tap.
    assert [p.numel() for p in ECA(256).parameters()] == [5]
    assert ECA(256).conv.bias is None


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=64, kernel_size=4), ValueError, r'ECA: kernel_size=4 must be odd'),
    (dict(in_channels=64, kernel_size=0), ValueError, r'ECA: kernel_size=0 must be >= 1'),
    (dict(in_channels=64, kernel_size=3.0), TypeError, r'ECA: kernel_size must be an int'),
    (dict(in_channels=64, gamma=0), ValueError, r'ECA: gamma=0 must be > 0'),
    (dict(in_channels=64, gamma='2'), TypeError, r'ECA: gamma must be a number'),
    (dict(in_channels=64, b=None), TypeError, r'ECA: b must be a number'),
    (dict(in_channels=0), ValueError, r'ECA: in_channels=0 must be >= 1'),
])
def test_eca_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ECA(**kwargs)


def test_eca_rejects_bad_input():
    with pytest.raises(ValueError, match=r'ECA: expected an input of shape \(B, 16, H, W\)'):
        ECA(16)(torch.randn(2, 8, 4, 4))


def test_eca_batch_independent_and_backward():
    check_batch_independent_and_backward(ECA(32), torch.randn(3, 32, 5, 7))


def test_eca_resnet50_parameter_count():
    plain = resnet50_classifier_params()
    assert plain == 25_557_032
    with_eca = resnet50_classifier_params(plugins=[
        dict(cfg=dict(type='ECA'), stages=(True, True, True, True), position='after_conv3')
    ])
    # k = 5 at 256, 512 and 1024 channels, 7 at 2048: 3*5 + 4*5 + 6*5 + 3*7 weights.
    assert with_eca - plain == 86
    assert abs(with_eca - plain) / plain < 0.005  # the paper: same size as ResNet-50
    assert round(with_eca / 1e6, 2) == 25.56


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_eca_in_every_bottleneck_position(position):
    eca = resnet50_with_plugin(ECA, position).layer4[0].eca
    assert_finite_grads(eca.conv.weight)
