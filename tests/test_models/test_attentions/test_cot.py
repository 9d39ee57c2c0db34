import io
import warnings

import pytest
import torch
import torch.nn as nn

from mmattn import CoTAttention
from mmattn.analysis.baselines import BASELINES


def randomize(module, std=0.3):
    """Random weights and non-trivial BN statistics: a dropped term or a wrong statistic shows."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * std)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn_like(m.running_mean))
                m.running_var.copy_(torch.rand_like(m.running_var) * 2 + 0.5)
    return module


def naive_bn(z, bn):
    shape = (1, -1) + (1, ) * (z.dim() - 2)
    return ((z - bn.running_mean.double().view(shape))
            / torch.sqrt(bn.running_var.double().view(shape) + bn.eps)
            * bn.weight.double().view(shape) + bn.bias.double().view(shape))


def naive_grouped_conv(x, weight, groups):
    """Stride 1, 'same' padding, odd square kernel: a sum over kernel offsets, group by group."""
    B, C, H, W = x.shape
    O, Cg, K, _ = weight.shape
    p = K // 2
    xp = torch.zeros(B, C, H + 2 * p, W + 2 * p, dtype=torch.double)
    xp[:, :, p:p + H, p:p + W] = x
    out = torch.zeros(B, O, H, W, dtype=torch.double)
    og = O // groups
    for g in range(groups):
        for dy in range(K):
            for dx in range(K):
                out[:, g * og:(g + 1) * og] += torch.einsum(
                    'oc,bchw->bohw', weight[g * og:(g + 1) * og, :, dy, dx].double(),
                    xp[:, g * Cg:(g + 1) * Cg, dy:dy + H, dx:dx + W])
    return out


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
    m = randomize(CoTAttention(shape[1], **kwargs)).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_cot(x, m), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('train', [False, True])
def test_cot_equals_the_seed_baseline_with_its_weights(train):
    m = randomize(CoTAttention(16)).train(train)
    base = BASELINES.build(dict(type='CoTAttention', in_channels=16)).train(train)
    base.load_state_dict(m.state_dict())
    x = torch.randn(3, 16, 6, 7)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = m(xa), base(xb)
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(ya)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    for (name, pa), pb in zip(m.named_parameters(), base.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-5, msg=name)


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
    m = randomize(CoTAttention(8), std=1.0).eval()
    x = torch.randn(2, 8, 6, 5) * 1e3
    with torch.no_grad():
        ref = m(x)
        assert torch.isfinite(ref).all()
        for dtype in (torch.float16, torch.bfloat16):
            y = m.to(dtype)(x.to(dtype))
            assert y.dtype == dtype and torch.isfinite(y).all()
            m.float()


def test_cot_batch_independent_channels_last_and_backward():
    m = randomize(CoTAttention(8)).eval()
    x = torch.randn(3, 8, 5, 7)
    with torch.no_grad():
        y = m(x)
        x2 = x.clone()
        x2[1:] = torch.randn(2, 8, 5, 7) * 10
        torch.testing.assert_close(m(x2)[0], y[0])
        torch.testing.assert_close(m(x.contiguous(memory_format=torch.channels_last)), y)
    m.train()
    x.requires_grad_(True)
    m(x).square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


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


# Shared by test_smt.py and test_mhsa.py: the plugin and export checks of a 2D module.

def check_in_bottleneck_and_fpn(cfg):
    """``cfg`` as plugins after conv2 and conv3 of a ResNet-50 stage-4 Bottleneck, forward and
    backward; then on every output level of an mmdet FPN."""
    from mmdet.models.backbones.resnet import Bottleneck
    from mmdet.models.necks import FPN
    from mmengine.registry import MODELS
    block = Bottleneck(2048, 512, plugins=[
        dict(cfg=dict(cfg, postfix=2), position='after_conv2'),
        dict(cfg=dict(cfg, postfix=3), position='after_conv3'),
    ])
    abbr = MODELS.get(cfg['type'])._abbr_
    assert getattr(block, abbr + '2').in_channels == 512
    assert getattr(block, abbr + '3').in_channels == 2048
    x = torch.randn(2, 2048, 3, 4, requires_grad=True)
    out = block(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    for name in (abbr + '2', abbr + '3'):
        grads = [p.grad for p in getattr(block, name).parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name

    fpn = FPN(in_channels=[16, 32, 64], out_channels=32, num_outs=3)
    attention = MODELS.build(dict(cfg, in_channels=32))
    feats = [torch.randn(2, c, s, s + 1) for c, s in ((16, 12), (32, 6), (64, 3))]
    outs = tuple(attention(level) for level in fpn(feats))
    assert [o.shape[1:] for o in outs] == [(32, 12, 13), (32, 6, 7), (32, 3, 4)]
    sum(o.sum() for o in outs).backward()


def check_trace_and_onnx(module, x):
    """torch.jit.trace and ONNX (opset 17, TorchScript exporter) agree with eager at another
    batch size and spatial size."""
    ort = pytest.importorskip('onnxruntime')
    module.eval()
    x2 = torch.randn(x.shape[0] + 1, x.shape[1], x.shape[2] + 2, x.shape[3] + 1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(module, x)
        torch.testing.assert_close(traced(x2), module(x2), rtol=1e-4, atol=1e-5)
        buf = io.BytesIO()
        torch.onnx.export(module, (x, ), buf, opset_version=17, dynamo=False,
                          input_names=['x'], output_names=['y'],
                          dynamic_axes={'x': {0: 'b', 2: 'h', 3: 'w'}})
    session = ort.InferenceSession(buf.getvalue())
    for inp in (x, x2):
        (out, ) = session.run(None, {'x': inp.numpy()})
        torch.testing.assert_close(torch.from_numpy(out), module(inp).detach(), rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.integration
def test_cot_in_bottleneck_and_on_fpn_levels():
    check_in_bottleneck_and_fpn(dict(type='CoTAttention'))


def test_cot_trace_and_onnx():
    check_trace_and_onnx(randomize(CoTAttention(8)), torch.randn(1, 8, 5, 6))
