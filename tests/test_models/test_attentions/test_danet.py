
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmattn import DANetCAM, DANetPAM, DualAttention
from mmattn.analysis.baselines import BASELINES
from mmattn.models.attentions import danet as danet_module
from tests.conftest import skip_unless
from .helpers import (check_batch_independent_and_backward, check_low_precision_copy,
                      check_trace_and_onnx)

SHAPES = [(1, 16, 1, 1), (3, 16, 3, 5), (1, 24, 7, 9), (3, 12, 7, 9), (2, 5, 4, 3)]


def naive_pam(x, m):
    """PAM in float64 with einsum: 1x1 convs, (HW)^2 energies, softmax over keys."""
    B, C, H, W = x.shape
    x = x.double().reshape(B, C, H * W)

    def conv(layer):
        return (torch.einsum('oc,bcn->bon', layer.weight.double()[:, :, 0, 0], x) +
                layer.bias.double()[None, :, None])

    q, k, v = conv(m.query_conv), conv(m.key_conv), conv(m.value_conv)
    energy = torch.einsum('bdn,bdm->bnm', q, k)  # no 1/sqrt(d)
    energy = energy - energy.max(-1, keepdim=True).values
    attn = energy.exp() / energy.exp().sum(-1, keepdim=True)
    out = torch.einsum('bcm,bnm->bcn', v, attn)
    return (m.gamma.double() * out + x).reshape(B, C, H, W)


def naive_cam(x, m):
    """CAM in float64, as the official code: softmax(rowmax(E) - E) with E = X X^T."""
    B, C, H, W = x.shape
    x = x.double().reshape(B, C, H * W)
    out = torch.empty_like(x)
    for b in range(B):
        energy = x[b] @ x[b].T
        energy_new = energy.max(-1, keepdim=True).values - energy
        e = (energy_new - energy_new.max(-1, keepdim=True).values).exp()
        out[b] = (e / e.sum(-1, keepdim=True)) @ x[b]
    return (m.gamma.double() * out + x).reshape(B, C, H, W)


def _randomize(module, gamma=0.7):
    for name, p in module.named_parameters():
        if not name.endswith('gamma'):
            nn.init.normal_(p, std=0.3)
    for name, p in module.named_parameters():
        if name.endswith('gamma'):
            nn.init.constant_(p, gamma)
    return module.eval()


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('impl', ['plain', 'sdpa', 'auto'])
def test_pam_matches_naive(shape, impl):
    pam = _randomize(DANetPAM(shape[1], impl=impl))
    x = torch.randn(shape)
    with torch.no_grad():
        y = pam(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_pam(x, pam), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('shape', SHAPES)
def test_cam_matches_naive(shape):
    cam = _randomize(DANetCAM(shape[1]))
    x = torch.randn(shape) * 0.5
    with torch.no_grad():
        y = cam(x)
    torch.testing.assert_close(y.double(), naive_cam(x, cam), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('shape', SHAPES)
def test_dual_is_one_residual_plus_both_attention_terms(shape):
    dual = DualAttention(shape[1])
    x = torch.randn(shape) * 0.5
    # Zero gammas: exactly the identity (the paper's pam(x) + cam(x) would be 2x).
    with torch.no_grad():
        assert torch.equal(dual(x), x)
    _randomize(dual)
    dual.pam.gamma.data.fill_(0.7)
    dual.cam.gamma.data.fill_(-0.4)
    with torch.no_grad():
        y = dual(x)
        torch.testing.assert_close(y, dual.pam(x) + dual.cam(x) - x, rtol=1e-5, atol=1e-5)
    ref = naive_pam(x, dual.pam) + naive_cam(x, dual.cam) - x.double()
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)


def test_dual_at_256_channels_25x34_with_backward():
    dual = DualAttention(256)
    x = torch.randn(2, 256, 25, 34, requires_grad=True)
    y = dual(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert dual.pam.gamma.grad.abs() > 0 and dual.cam.gamma.grad.abs() > 0


@pytest.mark.parametrize('channels,qk,heads,head_channels', [
    (512, 64, 4, 128), (256, 32, 2, 128), (2048, 256, 8, 256), (300, 37, 3, 100),
    (64, 8, 1, 64), (5, 1, 1, 5), (8, 1, 1, 8)])
def test_pam_widths(channels, qk, heads, head_channels):
    pam = DANetPAM(channels)
    assert pam.qk_channels == qk
    assert (pam.num_heads, pam.head_channels) == (heads, head_channels)
    assert pam.num_heads * pam.head_channels >= channels
    n_params = sum(p.numel() for p in pam.parameters())
    assert n_params == 2 * (channels * qk + qk) + channels * channels + channels + 1


def test_pam_auto_threshold_and_onnx_choice(monkeypatch):
    pam = DANetPAM(16)
    assert not pam._use_sdpa(64 * 64) and pam._use_sdpa(64 * 64 + 1)
    assert DANetPAM(16, impl='sdpa')._use_sdpa(1)
    assert not DANetPAM(16, impl='plain')._use_sdpa(10**6)
    monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    assert not pam._use_sdpa(10**6)


def _aten_ops(fn):
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages()}


@pytest.mark.parametrize('channels', [16, 300])
def test_pam_sdpa_takes_the_fused_kernel(channels):
    skip_unless('cpu fused sdpa')
    pam = _randomize(DANetPAM(channels, impl='sdpa')).train()
    x = torch.randn(2, channels, 5, 6, requires_grad=True)
    ops = _aten_ops(lambda: pam(x).sum().backward())
    assert 'aten::_scaled_dot_product_flash_attention_for_cpu' in ops
    assert 'aten::_scaled_dot_product_flash_attention_for_cpu_backward' in ops
    assert 'aten::_scaled_dot_product_attention_math' not in ops


def _saved_bytes(module, x):
    """Bytes of the distinct storages autograd keeps for backward."""
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x).sum()
    return sum(storages.values())


def test_pam_sdpa_memory_is_linear_in_pixels():
    c = 32
    baseline = BASELINES.build(dict(type='DANetPAM', in_channels=c))
    pam = DANetPAM(c, impl='sdpa')
    pam.load_state_dict(baseline.state_dict())
    small = torch.randn(1, c, 24, 24, requires_grad=True)
    large = torch.randn(1, c, 48, 48, requires_grad=True)
    base_small, base_large = _saved_bytes(baseline, small), _saved_bytes(baseline, large)
    ours_small, ours_large = _saved_bytes(pam, small), _saved_bytes(pam, large)
    assert base_large > 12 * base_small  # (HW)^2: 16x for 4x the pixels
    assert ours_large < 4.5 * ours_small  # HW: 4x
    assert ours_large * 10 < base_large


@pytest.mark.parametrize('type_name,shape,kwargs', [
    ('DANetPAM', (3, 16, 7, 9), dict(impl='plain')),
    ('DANetPAM', (2, 24, 3, 5), dict(impl='sdpa')),
    ('DANetCAM', (3, 16, 7, 9), {}),
    ('DualAttention', (2, 16, 3, 5), {}),
])
def test_baseline_has_same_state_dict_and_outputs(type_name, shape, kwargs):
    ours = _randomize(danet_module.__dict__[type_name](shape[1], **kwargs))
    base = BASELINES.build(dict(type=type_name, in_channels=shape[1], **kwargs)).eval()
    base.load_state_dict(ours.state_dict())
    x = torch.randn(shape) * 0.5
    with torch.no_grad():
        torch.testing.assert_close(ours(x), base(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('type_name,kwargs', [
    ('DANetCAM', {}), ('DANetPAM', dict(impl='plain')), ('DANetPAM', dict(impl='sdpa')),
    ('DualAttention', {})])
def test_large_inputs_stay_finite_in_low_precision(type_name, kwargs, dtype):
    if dtype == torch.float16:
        skip_unless('cpu float16')
    module = danet_module.__dict__[type_name](16, **kwargs)
    for name, p in module.named_parameters():
        nn.init.constant_(p, 0.5) if name.endswith('gamma') else nn.init.normal_(p, std=0.1)
    # ~1e3 activations: CAM energies ~1e8 (inf in fp16), PAM's ~1e5. The softmax
    # is then one-hot and rounding may move its peak: finiteness is the claim. Unit
    # activations: close to fp32.
    check_low_precision_copy(module, dtype, (2, 16, 9, 11), tol=0.03)


def test_cam_under_autocast_bf16():
    cam = DANetCAM(16)
    cam.gamma.data.fill_(1.0)
    x = torch.randn(1, 16, 8, 8) * 1e3
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = cam(x)
    assert y.dtype == x.dtype and torch.isfinite(y).all()


@pytest.mark.parametrize('type_name,kwargs', [
    ('DANetPAM', dict(impl='plain')), ('DANetPAM', dict(impl='sdpa')), ('DANetCAM', {}),
    ('DualAttention', {})])
def test_batch_independent_channels_last_and_backward(type_name, kwargs):
    module = _randomize(danet_module.__dict__[type_name](16, **kwargs))
    check_batch_independent_and_backward(module, torch.randn(3, 16, 5, 7), channels_last=True)


@pytest.mark.parametrize('type_name,kwargs', [
    ('DANetPAM', dict(impl='auto')), ('DANetPAM', dict(impl='sdpa')), ('DANetCAM', {}),
    ('DualAttention', {})])
def test_jit_trace_and_onnx_export(type_name, kwargs):
    module = _randomize(danet_module.__dict__[type_name](16, **kwargs))
    check_trace_and_onnx(module, torch.randn(2, 16, 5, 7), x2=torch.randn(1, 16, 6, 4))


class _Parent(BaseModule):

    def __init__(self, init_cfg):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(3, 16, 1)
        self.pam = DANetPAM(16)
        self.cam = DANetCAM(16)
        self.dual = DualAttention(16)


def _gammas(model):
    return {n: p for n, p in model.named_parameters() if n.endswith('gamma')}


@pytest.mark.parametrize('init_cfg', [
    dict(type='Kaiming', layer='Conv2d'),
    [dict(type='Kaiming', layer='Conv2d'),
     dict(type='Constant', val=1, layer=['DANetPAM', 'DANetCAM', 'DualAttention']),
     dict(type='Constant', val=2, layer='Conv2d',
          override=dict(name='pam', type='Constant', val=3))],
])
def test_gamma_stays_zero_under_a_parent_init_cfg(init_cfg):
    parent = _Parent(init_cfg)
    for p in _gammas(parent).values():
        p.data.fill_(5.0)  # as if something had written them
    before = parent.pam.query_conv.weight.clone()
    parent.init_weights()
    assert len(_gammas(parent)) == 4
    assert all(p.item() == 0 for p in _gammas(parent).values())
    assert not torch.equal(parent.pam.query_conv.weight, before)  # the parent's init ran


def test_gamma_zero_under_pretrained_parent_and_loaded_when_in_checkpoint(tmp_path):
    source = _Parent(None)
    state = {k: v for k, v in source.state_dict().items() if not k.endswith('gamma')}
    ckpt = tmp_path / 'no_gamma.pth'
    torch.save(dict(state_dict=state), ckpt)
    parent = _Parent(dict(type='Pretrained', checkpoint=str(ckpt)))
    for p in _gammas(parent).values():
        p.data.fill_(5.0)
    parent.init_weights()
    assert all(p.item() == 0 for p in _gammas(parent).values())
    torch.testing.assert_close(parent.pam.value_conv.weight, source.pam.value_conv.weight)
    # A trained gamma in the checkpoint is what the model ends with.
    state['pam.gamma'] = torch.tensor([0.25])
    torch.save(dict(state_dict=state), ckpt)
    parent = _Parent(dict(type='Pretrained', checkpoint=str(ckpt)))
    parent.init_weights()
    assert parent.pam.gamma.item() == 0.25 and parent.cam.gamma.item() == 0


@pytest.mark.parametrize('factory,error,match', [
    (lambda: DANetPAM(0), ValueError, r'DANetPAM: in_channels=0 must be >= 1'),
    (lambda: DANetPAM(16, reduction=0), ValueError, r'DANetPAM: reduction=0 must be >= 1'),
    (lambda: DANetPAM(16, impl='flash'), ValueError, r"DANetPAM: impl='flash' must be one of"),
    (lambda: DANetPAM(16.0), TypeError, r'DANetPAM: in_channels must be an int'),
    (lambda: DANetCAM(-1), ValueError, r'DANetCAM: in_channels=-1 must be >= 1'),
    (lambda: DualAttention(16, impl='x'), ValueError, r"DualAttention: impl='x'"),
    (lambda: DualAttention(None), TypeError, r'DualAttention: in_channels must be an int'),
])
def test_rejects_bad_arguments(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


@pytest.mark.parametrize('module,name', [
    (DANetPAM(16), 'DANetPAM'), (DANetCAM(16), 'DANetCAM'), (DualAttention(16), 'DualAttention')])
def test_rejects_bad_input(module, name):
    with pytest.raises(ValueError, match=rf'{name}: expected an input of shape \(B, 16, H, W\)'):
        module(torch.randn(2, 8, 4, 4))


@pytest.mark.parametrize('type_name', ['DANetPAM', 'DANetCAM', 'DualAttention'])
def test_in_resnet50_bottleneck_after_conv2_and_conv3(type_name):
    from mmdet.models.backbones import ResNet
    backbone = ResNet(depth=50, out_indices=(3, ), plugins=[
        dict(cfg=dict(type=type_name, postfix='_c2'), stages=(False, False, False, True),
             position='after_conv2'),
        dict(cfg=dict(type=type_name, postfix='_c3'), stages=(False, False, False, True),
             position='after_conv3')])
    backbone.init_weights()
    modules = [m for m in backbone.modules() if type(m).__name__ == type_name]
    assert len(modules) == 6
    assert {m.in_channels for m in modules} == {512, 2048}
    assert all(p.item() == 0 for m in modules for n, p in m.named_parameters()
               if n.endswith('gamma'))
    for m in modules:
        for n, p in m.named_parameters():
            if n.endswith('gamma'):
                p.data.fill_(0.1)
    x = torch.randn(1, 3, 64, 96, requires_grad=True)
    (out, ) = backbone(x)
    assert out.shape == (1, 2048, 2, 3)
    out.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for m in modules for p in m.parameters())


def test_on_fpn_outputs():
    from mmdet.models.necks import FPN
    fpn = FPN(in_channels=[16, 32, 64], out_channels=16, num_outs=4)
    feats = tuple(torch.randn(2, c, s, s + 1) for c, s in [(16, 16), (32, 8), (64, 4)])
    modules = nn.ModuleList([DualAttention(16), DANetPAM(16, impl='sdpa'), DANetCAM(16)])
    for m in modules:
        m.pam.gamma.data.fill_(0.3) if isinstance(m, DualAttention) else m.gamma.data.fill_(0.3)
    outs = fpn(feats)
    for m in modules:
        results = [m(level) for level in outs]
        assert [r.shape for r in results] == [o.shape for o in outs]
        sum(r.mean() for r in results).backward(retain_graph=True)
