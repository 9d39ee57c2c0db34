import pytest
import torch
import torch.nn as nn

from mmattn import CBAM
from mmattn.analysis.baselines import BASELINES
from mmattn.analysis.params import resnet50_classifier_params
from .helpers import (assert_finite_grads, check_batch_independent_and_backward,
                      check_same_as_baseline, naive_grouped_conv, randomize, resnet50_with_plugin)

SHAPES = [(1, 16, 1, 1), (3, 32, 3, 5), (3, 24, 7, 9), (1, 64, 7, 9), (2, 8, 2, 11)]


def naive_cbam(x, cbam):
    x = x.double()
    w1 = cbam.fc1.weight.double()[:, :, 0, 0]
    b1 = cbam.fc1.bias.double()
    w2 = cbam.fc2.weight.double()[:, :, 0, 0]
    b2 = cbam.fc2.bias.double()

    def mlp(s):  # [B, C]
        return torch.einsum('ch,bh->bc', w2, torch.clamp(torch.einsum('hc,bc->bh', w1, s) + b1,
                                                         min=0)) + b2

    # Channel gate: the MLP applied to each descriptor on its own, outputs summed.
    avg = x.mean((2, 3))
    mx = x.flatten(2).max(2).values
    x = x * torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]
    # Spatial gate: [mean over C, max over C] -> conv -> BN (eval) -> sigmoid.
    d = torch.stack([x.mean(1), x.max(1).values], 1)
    z = naive_grouped_conv(d, cbam.spatial_conv.weight)
    norm = cbam.spatial_norm
    if isinstance(norm, nn.BatchNorm2d):
        z = (z - norm.running_mean.double()) / torch.sqrt(norm.running_var.double() + norm.eps)
        z = z * norm.weight.double() + norm.bias.double()
    return x * torch.sigmoid(z)


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(norm_cfg=None, kernel_size=3),
    dict(reduction=4, kernel_size=5),
    dict(kernel_size=1),
    dict(kernel_size=9, reduction=2),
], ids=['default', 'no-bn-k3', 'r4-k5', 'k1', 'k9'])
def test_cbam_matches_naive(shape, kwargs):
    cbam = CBAM(shape[1], **kwargs).eval()
    randomize(cbam)
    x = torch.randn(shape)
    with torch.no_grad():
        y = cbam(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_cbam(x, cbam), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('channels,reduction,min_channels,hidden', [
    (256, 16, 1, 16), (2048, 16, 1, 128), (8, 16, 1, 1), (8, 16, 4, 4), (100, 16, 1, 6),
])
def test_cbam_hidden_width(channels, reduction, min_channels, hidden):
    cbam = CBAM(channels, reduction=reduction, min_channels=min_channels)
    assert cbam.hidden_channels == hidden
    assert cbam.fc1.out_channels == hidden and cbam.fc2.in_channels == hidden


def test_cbam_layers_and_parameter_count():
    c, r, k = 256, 16, 7
    cbam = CBAM(c)
    # The official code: MLP with biases, spatial conv without bias, then BN.
    assert cbam.fc1.bias is not None and cbam.fc2.bias is not None
    assert cbam.spatial_conv.bias is None
    assert isinstance(cbam.spatial_norm, nn.BatchNorm2d) and cbam.spatial_norm.num_features == 1
    mlp = 2 * c * (c // r) + c // r + c
    assert sum(p.numel() for p in cbam.parameters()) == mlp + 2 * k * k + 2 == 8564
    no_bn = CBAM(c, norm_cfg=None)
    assert isinstance(no_bn.spatial_norm, nn.Identity)
    assert sum(p.numel() for p in no_bn.parameters()) == mlp + 2 * k * k
    gn = CBAM(c, norm_cfg=dict(type='GN', num_groups=1))
    assert isinstance(gn.spatial_norm, nn.GroupNorm)


@pytest.mark.parametrize('train', [False, True])
def test_cbam_equals_the_seed_baseline_with_its_weights(train):
    # The benchmark's baseline:CBAM must compute the same function from the same weights.
    m = randomize(CBAM(32), std=0.3).train(train)
    base = BASELINES.build(dict(type='CBAM', in_channels=32)).train(train)
    base.load_state_dict(m.state_dict())
    check_same_as_baseline(m, base, torch.randn(3, 32, 6, 7))


def test_cbam_mlp_runs_once_on_both_descriptors():
    cbam = CBAM(32)
    seen = []
    cbam.fc1.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    cbam(torch.randn(3, 32, 5, 6))
    # The average and the max descriptor side by side, as the two positions of a 1x2 map
    # (not stacked in the batch, which torch.export would specialise to the export size).
    assert seen == [(3, 32, 1, 2)]


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=64, kernel_size=4), ValueError, r'CBAM: kernel_size=4 must be odd'),
    (dict(in_channels=64, kernel_size=0), ValueError, r'CBAM: kernel_size=0 must be >= 1'),
    (dict(in_channels=64, reduction=0), ValueError, r'CBAM: reduction=0 must be >= 1'),
    (dict(in_channels=64, min_channels=0), ValueError, r'CBAM: min_channels=0 must be >= 1'),
    (dict(in_channels=64.0), TypeError, r'CBAM: in_channels must be an int'),
])
def test_cbam_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        CBAM(**kwargs)


def test_cbam_rejects_bad_input():
    with pytest.raises(ValueError, match=r'CBAM: expected an input of shape \(B, 16, H, W\)'):
        CBAM(16)(torch.randn(16, 4, 4))


def test_cbam_batch_independent_and_backward():
    check_batch_independent_and_backward(randomize(CBAM(32)), torch.randn(3, 32, 5, 7))


def test_cbam_resnet50_has_the_papers_parameter_count():
    plain = resnet50_classifier_params()
    assert plain == 25_557_032
    with_cbam = resnet50_classifier_params(plugins=[
        dict(cfg=dict(type='CBAM'), stages=(True, True, True, True), position='after_conv3')
    ])
    # Per bottleneck of width C: the SE-sized MLP plus 2*7*7 conv weights and 2 BN affines.
    expected_extra = sum(n * (2 * c * c // 16 + c // 16 + c + 2 * 49 + 2)
                         for n, c in [(3, 256), (4, 512), (6, 1024), (3, 2048)])
    assert with_cbam - plain == expected_extra == 2_532_592
    assert round(with_cbam / 1e6, 2) == 28.09  # the paper's ImageNet-1K result for ResNet50 + CBAM


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_cbam_in_every_bottleneck_position(position):
    cbam = resnet50_with_plugin(CBAM, position).layer4[0].cbam
    assert_finite_grads(cbam.fc1.weight, cbam.spatial_conv.weight)
