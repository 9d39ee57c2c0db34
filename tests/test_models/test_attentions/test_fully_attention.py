import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmattn import FullyAttention
from mmattn.analysis.baselines import BASELINES
from tests.conftest import skip_unless
from .helpers import (check_batch_independent_and_backward, check_low_precision_copy,
                      check_trace_and_onnx)

SHAPES = [(1, 16, 1, 1), (3, 16, 3, 5), (1, 8, 7, 9), (3, 12, 7, 9), (2, 5, 4, 3)]


def naive_fla_pre_conv(x, m, pair=None):
    """gamma * (aug_h + aug_w) + x in float64, column by column and row by row.

    ``pair(b, i, n)`` says whose context column/row ``i`` of sample ``b`` uses:
    its own sample by default (``n`` is W for columns, H for rows).
    """
    B, C, H, W = x.shape
    x = x.double()
    pair = pair or (lambda b, i, n: b)
    ctx_h = x.mean(3).transpose(1, 2) @ m.row_proj.weight.double().T + m.row_proj.bias.double()
    ctx_w = x.mean(2).transpose(1, 2) @ m.col_proj.weight.double().T + m.col_proj.bias.double()
    aug_h = torch.zeros_like(x)
    aug_w = torch.zeros_like(x)
    for b in range(B):
        for w in range(W):
            col = x[b, :, :, w]  # [C, H]
            attn = torch.softmax(col @ ctx_h[pair(b, w, W)], dim=-1)  # [C, C]
            aug_h[b, :, :, w] = attn @ col
        for h in range(H):
            row = x[b, :, h, :]  # [C, W]
            attn = torch.softmax(row @ ctx_w[pair(b, h, H)], dim=-1)
            aug_w[b, :, h, :] = attn @ row
    return m.gamma.double() * (aug_h + aug_w) + x


def naive_conv_bn_relu(y, m):
    conv, bn = m.conv.conv, m.conv.bn
    y = F.conv2d(y, conv.weight.double(), None, padding=1)
    scale = bn.weight.double() / (bn.running_var.double() + bn.eps).sqrt()
    y = (y - bn.running_mean.double()[:, None, None]) * scale[:, None, None]
    return (y + bn.bias.double()[:, None, None]).clamp(min=0)


def _randomize(m, gamma=0.7):
    for name, p in m.named_parameters():
        nn.init.constant_(p, gamma) if name == 'gamma' else nn.init.normal_(p, std=0.3)
    m.conv.bn.running_mean.normal_()
    m.conv.bn.running_var.uniform_(0.5, 2)
    return m.eval()


@pytest.mark.parametrize('shape', SHAPES)
def test_matches_naive(shape):
    m = _randomize(FullyAttention(shape[1]))
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    ref = naive_conv_bn_relu(naive_fla_pre_conv(x, m), m)
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)


def test_each_sample_only_sees_itself_and_the_seed_pairing_would_not():
    m = _randomize(FullyAttention(8))
    x = torch.randn(3, 8, 4, 5)
    x2 = x.clone()
    x2[1:] = torch.randn(2, 8, 4, 5) * 5
    with torch.no_grad():
        y, y2 = m(x), m(x2)
        torch.testing.assert_close(y2[0], y[0], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(m(x[:1]), y[:1], rtol=1e-5, atol=1e-5)
    # The official `repeat(width, 1, 1)`: column i of sample b (batch row b*n + i)
    # gets the context of tiled row b*n + i, i.e. of sample (b*n + i) % B.

    def seed(b, i, n):
        return (b * n + i) % 3

    seed_y, seed_y2 = naive_fla_pre_conv(x, m, seed), naive_fla_pre_conv(x2, m, seed)
    assert (seed_y[0] - seed_y2[0]).abs().max() > 1e-2


def test_baseline_has_same_state_dict_and_outputs():
    m = _randomize(FullyAttention(12))
    base = BASELINES.build(dict(type='FullyAttention', in_channels=12)).eval()
    base.load_state_dict(m.state_dict())
    x = torch.randn(3, 12, 7, 9)
    with torch.no_grad():
        torch.testing.assert_close(m(x), base(x), rtol=1e-5, atol=1e-5)


def test_parameter_count_and_cfgs():
    c = 512
    m = FullyAttention(c)
    # Two C x C linears with bias, gamma, 3x3 conv without bias, BN affine.
    assert sum(p.numel() for p in m.parameters()) == 2 * (c * c + c) + 1 + 9 * c * c + 2 * c
    m = FullyAttention(16, norm_cfg=dict(type='GN', num_groups=4), act_cfg=dict(type='GELU'))
    assert isinstance(m.conv.gn, nn.GroupNorm) and isinstance(m.conv.activate, nn.GELU)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_low_precision_large_inputs_finite(dtype):
    if dtype == torch.float16:
        skip_unless('cpu float16')
    m = _randomize(FullyAttention(16), gamma=0.5)
    # Inputs of 1e3: energies ~1e7, inf in fp16.
    check_low_precision_copy(m, dtype, (2, 16, 9, 11), tol=0.05)
    x = torch.randn(2, 16, 9, 11).to(dtype)
    with torch.autocast('cpu', dtype=torch.bfloat16), torch.no_grad():
        assert torch.isfinite(m(x.float() * 1e3)).all()


def test_channels_last_and_backward():
    m = _randomize(FullyAttention(16))
    check_batch_independent_and_backward(m, torch.randn(3, 16, 5, 7), channels_last=True)


def test_uses_the_fused_kernel():
    skip_unless('cpu fused sdpa')
    from torch.profiler import ProfilerActivity, profile
    m = _randomize(FullyAttention(16)).train()
    x = torch.randn(2, 16, 5, 7, requires_grad=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        m(x).sum().backward()
    ops = {e.key for e in prof.key_averages()}
    assert 'aten::_scaled_dot_product_flash_attention_for_cpu_backward' in ops
    assert 'aten::_scaled_dot_product_attention_math' not in ops


def test_jit_trace_and_onnx_export():
    m = _randomize(FullyAttention(16))
    check_trace_and_onnx(m, torch.randn(2, 16, 5, 7), x2=torch.randn(1, 16, 6, 4))


class _Parent(BaseModule):

    def __init__(self, init_cfg):
        super().__init__(init_cfg=init_cfg)
        self.fla = FullyAttention(16)


@pytest.mark.parametrize('init_cfg', [
    dict(type='Kaiming', layer='Conv2d'),
    [dict(type='Kaiming', layer=['Conv2d', 'Linear']),
     dict(type='Constant', val=1, layer=['FullyAttention', 'BatchNorm2d'],
          override=dict(name='fla', type='Constant', val=2))],
])
def test_gamma_stays_zero_under_a_parent_init_cfg(init_cfg):
    parent = _Parent(init_cfg)
    parent.fla.gamma.data.fill_(5.0)
    before = parent.fla.conv.conv.weight.clone()
    parent.init_weights()
    assert parent.fla.gamma.item() == 0
    assert not torch.equal(parent.fla.conv.conv.weight, before)


def test_gamma_zero_under_pretrained_parent(tmp_path):
    source = _Parent(None)
    state = {k: v for k, v in source.state_dict().items() if k != 'fla.gamma'}
    ckpt = tmp_path / 'no_gamma.pth'
    torch.save(dict(state_dict=state), ckpt)
    parent = _Parent(dict(type='Pretrained', checkpoint=str(ckpt)))
    parent.fla.gamma.data.fill_(5.0)
    parent.init_weights()
    assert parent.fla.gamma.item() == 0
    torch.testing.assert_close(parent.fla.row_proj.weight, source.fla.row_proj.weight)


def test_rejects_bad_arguments_and_input():
    with pytest.raises(ValueError, match=r'FullyAttention: in_channels=0 must be >= 1'):
        FullyAttention(0)
    with pytest.raises(TypeError, match=r'FullyAttention: in_channels must be an int'):
        FullyAttention('16')
    with pytest.raises(ValueError,
                       match=r'FullyAttention: expected an input of shape \(B, 16, H, W\)'):
        FullyAttention(16)(torch.randn(2, 8, 4, 4))


def test_in_resnet50_bottleneck_after_conv2_and_conv3():
    from mmdet.models.backbones import ResNet
    backbone = ResNet(depth=50, out_indices=(3, ), plugins=[
        dict(cfg=dict(type='FullyAttention', postfix='_c2'), stages=(False, False, False, True),
             position='after_conv2'),
        dict(cfg=dict(type='FullyAttention', postfix='_c3'), stages=(False, False, False, True),
             position='after_conv3')])
    backbone.init_weights()
    modules = [m for m in backbone.modules() if isinstance(m, FullyAttention)]
    assert len(modules) == 6 and {m.in_channels for m in modules} == {512, 2048}
    assert all(m.gamma.item() == 0 for m in modules)
    for m in modules:
        m.gamma.data.fill_(0.1)
    x = torch.randn(2, 3, 64, 96, requires_grad=True)
    (out, ) = backbone(x)
    assert out.shape == (2, 2048, 2, 3)
    out.mean().backward()
    assert all(torch.isfinite(p.grad).all() for m in modules for p in m.parameters())


def test_on_fpn_outputs():
    from mmdet.models.necks import FPN
    fpn = FPN(in_channels=[16, 32, 64], out_channels=16, num_outs=4)
    feats = tuple(torch.randn(2, c, s, s + 1) for c, s in [(16, 16), (32, 8), (64, 4)])
    m = FullyAttention(16)
    m.gamma.data.fill_(0.3)
    outs = fpn(feats)
    results = [m(level) for level in outs]
    assert [r.shape for r in results] == [o.shape for o in outs]
    sum(r.mean() for r in results).backward()
    assert torch.isfinite(m.gamma.grad).all() and m.gamma.grad.abs() > 0
