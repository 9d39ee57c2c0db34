import pytest
import torch
import torch.nn as nn

from mmattn import CoordAttention
from mmattn.analysis.params import resnet50_classifier_params
from .helpers import (assert_finite_grads, check_batch_independent_and_backward, randomize,
                      resnet50_with_plugin)

SHAPES = [(1, 16, 1, 1), (3, 32, 3, 5), (3, 24, 7, 9), (1, 64, 7, 9), (2, 8, 1, 6)]


def naive_coord_attention(x, ca, training=False):
    """Coordinate attention in float64 with einsum; BN statistics from the batch if training."""
    x = x.double()
    H = x.shape[2]

    def fc(conv, z):  # 1x1 convolution on [B, C, L]
        return torch.einsum('oc,bcl->bol', conv.weight.double()[:, :, 0, 0], z) + \
            conv.bias.double()[None, :, None]

    z = torch.cat([x.mean(3), x.mean(2)], 2)  # [B, C, H + W]: rows, then columns
    f = fc(ca.conv1, z)
    bn = ca.bn1
    if training:  # statistics over the batch and over rows and columns together
        mean = f.mean((0, 2), keepdim=True)
        var = f.var((0, 2), unbiased=False, keepdim=True)
    else:
        mean = bn.running_mean.double()[None, :, None]
        var = bn.running_var.double()[None, :, None]
    f = (f - mean) / torch.sqrt(var + bn.eps) * bn.weight.double()[None, :, None] + \
        bn.bias.double()[None, :, None]
    f = f * torch.clamp(f + 3, 0, 6) / 6  # h_swish
    a_h = torch.sigmoid(fc(ca.conv_h, f[:, :, :H]))  # [B, C, H]
    a_w = torch.sigmoid(fc(ca.conv_w, f[:, :, H:]))  # [B, C, W]
    return torch.einsum('bchw,bch,bcw->bchw', x, a_h, a_w)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('reduction', [32, 4])
def test_coord_attention_matches_naive(shape, reduction):
    ca = CoordAttention(shape[1], reduction=reduction).eval()
    randomize(ca)
    x = torch.randn(shape)
    with torch.no_grad():
        y = ca(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_coord_attention(x, ca), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('shape', [(1, 16, 1, 1), (3, 24, 7, 9), (2, 8, 4, 1)])
def test_coord_attention_train_mode_bn_spans_rows_and_columns(shape):
    ca = CoordAttention(shape[1]).train()
    randomize(ca)
    x = torch.randn(shape)
    with torch.no_grad():
        y = ca(x)
    ref = naive_coord_attention(x, ca, training=True)
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('channels,mip', [
    (64, 8), (256, 8), (512, 16), (1024, 32), (2048, 64), (100, 8), (4, 8),
])
def test_coord_attention_hidden_width(channels, mip):
    ca = CoordAttention(channels)
    assert ca.hidden_channels == mip == max(8, channels // 32)
    assert ca.conv1.out_channels == mip and ca.conv_h.in_channels == mip
    assert ca.conv_h.out_channels == ca.conv_w.out_channels == channels


def test_coord_attention_layers_and_parameter_count():
    ca = CoordAttention(256)
    assert isinstance(ca.act, nn.Hardswish)  # mmcv's HSwish, the paper's h_swish
    assert isinstance(ca.bn1, nn.BatchNorm2d)
    c, mip = 256, 8
    expected = (c * mip + mip) + 2 * mip + 2 * (mip * c + c)
    assert sum(p.numel() for p in ca.parameters()) == expected == 6680
    # Layer names of the official code, so its checkpoints load unchanged.
    assert {k.rsplit('.', 1)[0] for k in ca.state_dict()} == {'conv1', 'bn1', 'conv_h', 'conv_w'}
    relu = CoordAttention(64, act_cfg=dict(type='ReLU'))  # the other seed copy's choice
    assert isinstance(relu.act, nn.ReLU)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=0), ValueError, r'CoordAttention: in_channels=0 must be >= 1'),
    (dict(in_channels=64, reduction=0), ValueError, r'CoordAttention: reduction=0 must be >= 1'),
    (dict(in_channels=64, min_channels=0), ValueError,
     r'CoordAttention: min_channels=0 must be >= 1'),
    (dict(in_channels='64'), TypeError, r'CoordAttention: in_channels must be an int'),
])
def test_coord_attention_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        CoordAttention(**kwargs)


def test_coord_attention_rejects_bad_input():
    with pytest.raises(ValueError,
                       match=r'CoordAttention: expected an input of shape \(B, 16, H, W\)'):
        CoordAttention(16)(torch.randn(2, 16, 4))


def test_coord_attention_batch_independent_and_backward():
    check_batch_independent_and_backward(randomize(CoordAttention(32)), torch.randn(3, 32, 5, 7))


def test_coord_attention_resnet50_parameter_count():
    # The paper reports no ResNet-50 count (it targets mobile networks); this is the docs'.
    plain = resnet50_classifier_params()
    with_ca = resnet50_classifier_params(plugins=[
        dict(cfg=dict(type='CoordAttention'), stages=(True, True, True, True),
             position='after_conv3')
    ])

    def extra(c):
        mip = max(8, c // 32)
        return c * mip + mip + 2 * mip + 2 * (mip * c + c)

    stages = [(3, 256), (4, 512), (6, 1024), (3, 2048)]
    assert with_ca - plain == sum(n * extra(c) for n, c in stages) == 1_917_832
    assert round(with_ca / 1e6, 2) == 27.47


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_coord_attention_in_every_bottleneck_position(position):
    ca = resnet50_with_plugin(CoordAttention, position).layer4[0].coord_att
    assert_finite_grads(ca.conv1.weight, ca.conv_h.weight, ca.conv_w.weight)
