import pytest
import torch

from mmattn import SK
from mmattn.analysis.params import resnet50_classifier_params
from .helpers import (assert_finite_grads, check_batch_independent_and_backward, naive_bn,
                      naive_grouped_conv, randomize, resnet50_with_plugin)

SHAPES = [(1, 64, 1, 1), (3, 64, 3, 5), (3, 64, 7, 9), (1, 64, 7, 9)]
CONFIGS = {
    'paper': dict(),  # 3x3 and dilated 3x3, G=32, r=16, L=32
    'seed': dict(kernels=(1, 3, 5, 7), dilations=None, groups=1, reduction=8),
    'mixed': dict(kernels=(5, 3, 1), dilations=(1, 3, 2), groups=4, reduction=4, min_channels=4),
}


def naive_sk(x, sk):
    """SK in float64: split, fuse, select, each written out from the paper's equations."""
    x = x.double()
    B, C = x.shape[:2]
    M = len(sk.kernels)
    # Split: U_m = ReLU(BN(conv_m(x))).
    U = []
    for conv, d in zip(sk.convs, sk.dilations):
        u = naive_grouped_conv(x, conv.conv.weight, sk.groups, d)
        U.append(torch.clamp(naive_bn(u, conv.bn), min=0))
    # Fuse: s = GAP(sum_m U_m), z = ReLU(BN(W s)).
    s = sum(U).mean((2, 3))  # [B, C]
    z = torch.einsum('dc,bc->bd', sk.fc_reduce.conv.weight.double()[:, :, 0, 0], s)
    z = torch.clamp(naive_bn(z, sk.fc_reduce.bn), min=0)
    # Select: a_m = softmax over m of A_m z, V = sum_m a_m U_m.
    A = sk.fc_select.weight.double()[:, :, 0, 0].view(M, C, -1)
    logits = torch.einsum('mcd,bd->bmc', A, z)
    e = torch.exp(logits - logits.amax(1, keepdim=True))
    a = e / e.sum(1, keepdim=True)
    return sum(a[:, m, :, None, None] * U[m] for m in range(M))


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('config', list(CONFIGS))
def test_sk_matches_naive(shape, config):
    sk = SK(shape[1], **CONFIGS[config]).eval()
    randomize(sk)
    x = torch.randn(shape)
    with torch.no_grad():
        y = sk(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_sk(x, sk), rtol=1e-5, atol=1e-5)


def test_sk_single_branch_is_its_conv():
    # M = 1: the softmax over one branch is 1 and SK reduces to conv-BN-ReLU.
    sk = SK(32, kernels=(3, ), dilations=None, groups=8).eval()
    randomize(sk)
    x = torch.randn(2, 32, 5, 6)
    torch.testing.assert_close(sk(x), sk.convs[0](x))


@pytest.mark.parametrize('channels,reduction,min_channels,d', [
    (64, 16, 32, 32), (256, 16, 32, 32), (512, 16, 32, 32), (1024, 16, 32, 64),
    (2048, 16, 32, 128), (512, 8, 32, 64), (40, 16, 1, 2),
])
def test_sk_hidden_width(channels, reduction, min_channels, d):
    sk = SK(channels, reduction=reduction, min_channels=min_channels, groups=8)
    assert sk.hidden_channels == d == max(channels // reduction, min_channels)
    assert sk.fc_reduce.conv.out_channels == d and sk.fc_select.in_channels == d


def test_sk_layers_and_parameter_count():
    c, g, d = 256, 32, 32
    sk = SK(c)
    assert sk.kernels == (3, 3) and sk.dilations == (1, 2)
    assert [conv.conv.dilation for conv in sk.convs] == [(1, 1), (2, 2)]
    assert [conv.conv.padding for conv in sk.convs] == [(1, 1), (2, 2)]
    assert all(conv.conv.groups == g and conv.conv.bias is None for conv in sk.convs)
    # The M select layers are one d -> M*C layer.
    assert sk.fc_select.out_channels == 2 * c
    branches = 2 * (c * (c // g) * 9 + 2 * c)
    fuse = c * d + 2 * d + d * 2 * c
    assert sum(p.numel() for p in sk.parameters()) == branches + fuse == 62_528


def test_sk_batch_independent_and_backward():
    check_batch_independent_and_backward(randomize(SK(64)), torch.randn(3, 64, 5, 7))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=48), ValueError, r'SK: in_channels=48 must be divisible by groups=32'),
    (dict(in_channels=64, kernels=(3, 3, 5)), ValueError,
     r'SK: dilations=\(1, 2\) must have one entry per kernel of kernels=\(3, 3, 5\)'),
    (dict(in_channels=64, kernels=(3, 4), dilations=None), ValueError,
     r'SK: kernels=\(3, 4\) must all be odd'),
    (dict(in_channels=64, kernels=()), ValueError, r'SK: kernels must not be empty'),
    (dict(in_channels=64, kernels=3), TypeError, r'SK: kernels must be a non-empty sequence'),
    (dict(in_channels=64, dilations=(1, 0)), ValueError, r'SK: dilations\[1\]=0 must be >= 1'),
    (dict(in_channels=64, groups=0), ValueError, r'SK: groups=0 must be >= 1'),
    (dict(in_channels=64, reduction=0), ValueError, r'SK: reduction=0 must be >= 1'),
    (dict(in_channels=64, min_channels=0), ValueError, r'SK: min_channels=0 must be >= 1'),
    (dict(in_channels=0), ValueError, r'SK: in_channels=0 must be >= 1'),
])
def test_sk_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SK(**kwargs)


def test_sk_rejects_bad_input():
    with pytest.raises(ValueError, match=r'SK: expected an input of shape \(B, 64, H, W\)'):
        SK(64)(torch.randn(2, 32, 4, 4))


def test_sknet50_has_the_papers_parameter_count():
    # SKNet-50 is ResNeXt-50 (32x4d) with each bottleneck's 3x3 conv (+ its BN) replaced
    # by an SK unit of the same width: the paper's ImageNet comparison gives 27.5 M.
    from mmdet.models.backbones import ResNeXt
    resnext = ResNeXt(depth=50, groups=32, base_width=4)
    total = sum(p.numel() for p in resnext.parameters()) + 2048 * 1000 + 1000
    assert round(total / 1e6, 1) == 25.0  # ResNeXt-50 in the same table
    for layer in (resnext.layer1, resnext.layer2, resnext.layer3, resnext.layer4):
        for block in layer:
            total -= sum(p.numel() for m in (block.conv2, block.norm2) for p in m.parameters())
            total += sum(p.numel() for p in SK(block.conv2.in_channels).parameters())
    assert total == 27_479_784
    assert round(total / 1e6, 1) == 27.5


def test_sk_resnet50_plugin_parameter_count():
    # As an mmdet plugin SK is an extra C -> C unit, not the paper's replacement of conv2:
    # these are docs/module_contract.md's numbers for the two plugin positions, not the paper's.
    def params(position):
        return resnet50_classifier_params(plugins=[
            dict(cfg=dict(type='SK'), stages=(True, True, True, True), position=position)
        ])

    assert params('after_conv2') == 26_642_984
    assert params('after_conv3') == 40_745_960


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_sk_in_every_bottleneck_position(position):
    # Batch 2: in training mode the BN of the fuse step needs more than one sample.
    sk = resnet50_with_plugin(SK, position, batch_size=2).layer4[0].sk
    assert_finite_grads(sk.convs[1].conv.weight, sk.fc_reduce.conv.weight, sk.fc_select.weight)


@pytest.mark.parametrize('shape', [(2, 64, 1, 1), (3, 64, 7, 9)])
def test_sk_training_layout_paths_agree(shape):
    # In training on CPU the dilated branches of an NCHW input run channels_last (speed);
    # a channels_last input takes the plain path. Outputs and gradients must agree.
    sk = SK(64).train()
    randomize(sk)
    x = torch.randn(shape)
    results = []
    for inp in (x.clone(), x.contiguous(memory_format=torch.channels_last)):
        inp.requires_grad_(True)
        sk.zero_grad()
        y = sk(inp)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        results.append((y.detach(), inp.grad.clone(), sk.convs[1].conv.weight.grad.clone()))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
    assert results[0][0].is_contiguous()
