import pytest
import torch
import torch.nn as nn

from mmattn import SE
from mmattn.analysis.params import resnet50_classifier_params
from .helpers import assert_finite_grads, check_batch_independent_and_backward, resnet50_with_plugin


def naive_se(x, fc1_w, fc1_b, fc2_w, fc2_b):
    """SE written out with loops, in float64: channel means, then both layers unit by unit."""
    B, C, H, W = x.shape
    hidden = fc1_w.shape[0]
    x = x.double()
    out = torch.empty_like(x)
    for b in range(B):
        s = [x[b, c].sum() / (H * W) for c in range(C)]
        z = []
        for j in range(hidden):
            acc = fc1_b[j].double() if fc1_b is not None else torch.zeros((), dtype=torch.double)
            for c in range(C):
                acc = acc + fc1_w[j, c, 0, 0].double() * s[c]
            z.append(torch.clamp(acc, min=0))
        for c in range(C):
            acc = fc2_b[c].double() if fc2_b is not None else torch.zeros((), dtype=torch.double)
            for j in range(hidden):
                acc = acc + fc2_w[c, j, 0, 0].double() * z[j]
            out[b, c] = x[b, c] / (1 + torch.exp(-acc))
    return out


@pytest.mark.parametrize('shape,reduction,bias', [
    ((1, 16, 1, 1), 16, True),
    ((3, 32, 3, 5), 16, True),
    ((3, 24, 7, 9), 4, False),
    ((1, 64, 16, 16), 16, True),
    ((2, 8, 2, 3), 16, True),  # C < r: hidden width falls back to min_channels
])
def test_se_matches_naive(shape, reduction, bias):
    se = SE(shape[1], reduction=reduction, bias=bias).eval()
    # Non-zero biases so that a dropped bias would show.
    for p in se.parameters():
        nn.init.normal_(p, std=0.5)
    x = torch.randn(shape)
    with torch.no_grad():
        y = se(x)
    ref = naive_se(x, se.fc1.weight, se.fc1.bias, se.fc2.weight, se.fc2.bias)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('channels,reduction,min_channels,hidden', [
    (64, 16, 1, 4),
    (2048, 16, 1, 128),
    (8, 16, 1, 1),
    (8, 16, 4, 4),
    (100, 16, 1, 6),
])
def test_se_hidden_width(channels, reduction, min_channels, hidden):
    se = SE(channels, reduction=reduction, min_channels=min_channels)
    assert se.hidden_channels == hidden
    assert se.fc1.out_channels == hidden and se.fc2.in_channels == hidden


def test_se_bias_option_and_parameter_count():
    c, r = 256, 16
    assert sum(p.numel() for p in SE(c).parameters()) == 2 * c * (c // r) + c // r + c
    assert sum(p.numel() for p in SE(c, bias=False).parameters()) == 2 * c * (c // r)


@pytest.mark.filterwarnings('ignore:In MMCV v1.4.4')
def test_se_configurable_activations():
    se = SE(32, act_cfg=dict(type='GELU'), gate_cfg=dict(type='HSigmoid'))
    assert isinstance(se.act, nn.GELU)
    # mmcv's HSigmoid: clamp((x + 3) / 6, 0, 1) with its defaults.
    s = torch.randn(2, 32, 1, 1) * 4
    torch.testing.assert_close(se.gate(s), torch.clamp((s + 3) / 6, 0, 1))


def test_se_batch_independent_and_backward():
    check_batch_independent_and_backward(SE(32), torch.randn(3, 32, 5, 7))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=0), ValueError, r'SE: in_channels=0 must be >= 1'),
    (dict(in_channels=16.0), TypeError, r'SE: in_channels must be an int'),
    (dict(in_channels=16, reduction=0), ValueError, r'SE: reduction=0 must be >= 1'),
    (dict(in_channels=16, min_channels=-2), ValueError, r'SE: min_channels=-2'),
    (dict(in_channels=True), TypeError, r'SE: in_channels must be an int'),
])
def test_se_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SE(**kwargs)


@pytest.mark.parametrize('shape', [(2, 32, 8, 8), (16, 8, 8), (2, 16, 8)])
def test_se_rejects_bad_input(shape):
    with pytest.raises(ValueError, match=r'SE: expected an input of shape \(B, 16, H, W\)'):
        SE(16)(torch.randn(shape))


def test_se_resnet50_has_the_papers_parameter_count():
    plain = resnet50_classifier_params()
    assert plain == 25_557_032  # torchvision's resnet50: 25.56 M
    with_se = resnet50_classifier_params(plugins=[
        dict(cfg=dict(type='SE', reduction=16), stages=(True, True, True, True),
             position='after_conv3')
    ])
    # Per bottleneck of width C: 2 * C * C/16 weights + C/16 + C biases.
    expected_extra = sum(n * (2 * c * c // 16 + c // 16 + c)
                         for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
    assert with_se - plain == expected_extra
    assert round(with_se / 1e6, 2) == 28.09  # the paper's Table 2


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_se_in_every_bottleneck_position(position):
    se = resnet50_with_plugin(SE, position).layer4[0].se
    assert_finite_grads(se.fc1.weight)
