import pytest
import torch
import torch.nn as nn

from mmattn import SCSA
from mmattn.analysis.params import resnet50_classifier_params
from .helpers import (assert_finite_grads, check_batch_independent_and_backward,
                      check_layouts_dtypes_and_trace, randomize, resnet50_with_plugin)


def naive_dwconv1d(p, conv):
    """Depthwise 'same' 1D convolution of p (B, G, L), term by term."""
    k = conv.kernel_size[0]
    B, G, L = p.shape
    pp = torch.zeros(B, G, L + k - 1, dtype=p.dtype)
    pp[:, :, k // 2:k // 2 + L] = p
    out = torch.zeros_like(p)
    for g in range(G):
        out[:, g] = conv.bias[g].double()
        for t in range(k):
            out[:, g] += conv.weight[g, 0, t].double() * pp[:, g, t:t + L]
    return out


def naive_group_norm(y, norm):
    """GroupNorm of y (B, C, ...) with a loop over samples and groups."""
    B, C = y.shape[:2]
    G = norm.num_groups
    out = torch.empty_like(y)
    for b in range(B):
        for g in range(G):
            chunk = y[b, g * C // G:(g + 1) * C // G]
            mean = chunk.sum() / chunk.numel()
            var = ((chunk - mean)**2).sum() / chunk.numel()
            out[b, g * C // G:(g + 1) * C // G] = (chunk - mean) / torch.sqrt(var + norm.eps)
    shape = (1, C) + (1, ) * (y.dim() - 2)
    return out * norm.weight.double().view(shape) + norm.bias.double().view(shape)


def naive_scsa(x, m):
    """SCSA as in the official code (with the small-input window fix), in float64."""
    x = x.double()
    B, C, H, W = x.shape
    gc = C // 4
    convs = (m.local_dwc, m.global_dwc_s, m.global_dwc_m, m.global_dwc_l)
    softmax_gate = m.sa_gate.__class__ is nn.Softmax

    def smsa(p, norm):  # p: (B, C, L)
        p = torch.cat([naive_dwconv1d(p[:, i * gc:(i + 1) * gc], convs[i]) for i in range(4)],
                      dim=1)
        p = naive_group_norm(p, norm)
        return p.softmax(dim=2) if softmax_gate else torch.sigmoid(p)

    a_h = smsa(x.mean(3), m.norm_h)
    a_w = smsa(x.mean(2), m.norm_w)
    s = torch.empty_like(x)
    for h in range(H):
        for w in range(W):
            s[:, :, h, w] = x[:, :, h, w] * a_h[:, :, h] * a_w[:, :, w]

    # Windows: whole map for -1, else (min(ws, H), min(ws, W)) with floor mode.
    if m.window_size == -1:
        kh, kw = H, W
    else:
        kh, kw = min(m.window_size, H), min(m.window_size, W)
    Hp, Wp = H // kh, W // kw
    y = torch.empty(B, C, Hp, Wp, dtype=x.dtype)
    for i in range(Hp):
        for j in range(Wp):
            win = s[:, :, i * kh:(i + 1) * kh, j * kw:(j + 1) * kw].reshape(B, C, -1)
            y[:, :, i, j] = win.amax(2) if m.down_sample_mode == 'max_pool' and \
                m.window_size != -1 else win.mean(2)
    y = naive_group_norm(y, m.norm)

    def dw(conv):
        out = y * conv.weight.double().view(1, C, 1, 1)
        if conv.bias is not None:
            out = out + conv.bias.double().view(1, C, 1, 1)
        return out.reshape(B, m.head_num, C // m.head_num, Hp * Wp)

    q, k, v = dw(m.q), dw(m.k), dw(m.v)
    attn = torch.einsum('bhcn,bhdn->bhcd', q, k) * (C // m.head_num)**-0.5
    attn = attn.softmax(dim=-1)
    out = torch.einsum('bhcd,bhdn->bhcn', attn, v)  # official order: attend, then mean
    c = out.mean(3).reshape(B, C, 1, 1)
    c = c.softmax(dim=1) if softmax_gate else torch.sigmoid(c)
    return s * c


def random_eval(m):
    """Random weights, the GroupNorm weights around 1; eval mode."""
    return randomize(m, norm_weight_mean=1.0).eval()


@pytest.mark.parametrize('shape,kwargs', [
    ((1, 4, 1, 1), dict()),
    ((3, 8, 3, 5), dict()),
    ((1, 16, 7, 9), dict(head_num=2)),
    ((3, 16, 7, 9), dict(head_num=4, window_size=2)),  # 3 x 4 windows, last row/column left out
    ((3, 8, 7, 9), dict(window_size=3, down_sample_mode='max_pool', qkv_bias=True)),
    ((2, 8, 5, 5), dict()),  # the seed's crash: smaller than the window
    ((2, 12, 16, 20), dict(head_num=3)),  # 2 x 2 windows of 7
    ((2, 8, 6, 11), dict(window_size=-1)),
    ((2, 8, 9, 4), dict(gate_layer='softmax', group_kernel_sizes=(1, 3, 3, 5))),
])
def test_scsa_matches_naive(shape, kwargs):
    m = random_eval(SCSA(shape[1], **kwargs))
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y.double(), naive_scsa(x, m), rtol=1e-5, atol=1e-5)


def test_scsa_window_larger_than_input_pools_the_whole_map():
    m = random_eval(SCSA(8))
    m_global = random_eval(SCSA(8, window_size=-1))
    m_global.load_state_dict(m.state_dict())
    x = torch.randn(2, 8, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(m(x), m_global(x))
        # One side shorter than the window: pooled whole along it only.
        x = torch.randn(2, 8, 3, 16)
        y = m(x)
    torch.testing.assert_close(y.double(), naive_scsa(x, m), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('channels,head_num,group_channels,head_dim', [
    (64, 1, 16, 64),
    (256, 8, 64, 32),
    (512, 1, 128, 512),
    (4, 2, 1, 2),
    (12, 3, 3, 4),
])
def test_scsa_groups_arithmetic(channels, head_num, group_channels, head_dim):
    m = SCSA(channels, head_num=head_num)
    assert m.group_channels == group_channels and m.head_dim == head_dim
    assert m.scale == pytest.approx(head_dim**-0.5)
    convs = (m.local_dwc, m.global_dwc_s, m.global_dwc_m, m.global_dwc_l)
    for conv, k in zip(convs, (3, 5, 7, 9)):
        assert conv.kernel_size == (k, ) and conv.padding == (k // 2, )
        assert conv.in_channels == conv.out_channels == conv.groups == group_channels
    assert m.norm_h.num_groups == m.norm_w.num_groups == 4 and m.norm.num_groups == 1
    assert m.q.groups == channels and m.q.bias is None
    # Depthwise convs 6C + C, two GN(4) 4C, GN(1) 2C, q/k/v 3C.
    assert sum(p.numel() for p in m.parameters()) == 16 * channels


def test_scsa_batch_independent_and_backward():
    check_batch_independent_and_backward(random_eval(SCSA(16, head_num=2)),
                                         torch.randn(3, 16, 9, 8))


def test_scsa_layouts_dtypes_and_trace():
    check_layouts_dtypes_and_trace(random_eval(SCSA(16, head_num=2)), torch.randn(2, 16, 15, 9))


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=66), ValueError, r'^SCSA: in_channels=66 must be divisible by 4'),
    (dict(in_channels=64, head_num=3), ValueError,
     r'SCSA: in_channels=64 must be divisible by head_num=3'),
    (dict(in_channels=64, head_num=0), ValueError, r'SCSA: head_num=0 must be >= 1'),
    (dict(in_channels=64, window_size=0), ValueError, r'SCSA: window_size=0 must be >= 1'),
    (dict(in_channels=64, down_sample_mode='recombination'), ValueError,
     r"SCSA: down_sample_mode='recombination' is not supported"),
    (dict(in_channels=64, down_sample_mode='avg'), ValueError,
     r"SCSA: down_sample_mode='avg' must be one of"),
    (dict(in_channels=64, group_kernel_sizes=(3, 5, 7)), ValueError,
     r'SCSA: group_kernel_sizes=\(3, 5, 7\) must hold 4'),
    (dict(in_channels=64, group_kernel_sizes=(3, 5, 7, 8)), ValueError,
     r'SCSA: group_kernel_sizes=\(3, 5, 7, 8\) must be odd'),
    (dict(in_channels=64, gate_layer='relu'), ValueError, r"SCSA: gate_layer='relu'"),
    (dict(in_channels=64, attn_drop_ratio=1.0), ValueError,
     r'SCSA: attn_drop_ratio=1.0 must be in'),
    (dict(in_channels=64.0), TypeError, r'SCSA: in_channels must be an int'),
])
def test_scsa_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SCSA(**kwargs)


def test_scsa_rejects_bad_input():
    with pytest.raises(ValueError, match=r'SCSA: expected an input of shape \(B, 8, H, W\)'):
        SCSA(8)(torch.randn(1, 4, 5, 5))


def test_scsa_resnet50_parameter_count():
    # The official placement: after conv2 (the 3x3) of every bottleneck, head_num=1.
    with_scsa = resnet50_classifier_params(plugins=[
        dict(cfg=dict(type='SCSA', head_num=1, window_size=7), stages=(True, True, True, True),
             position='after_conv2')
    ])
    extra = 16 * (3 * 64 + 4 * 128 + 6 * 256 + 3 * 512)
    assert with_scsa == 25_557_032 + extra == 25_617_448
    assert round(with_scsa / 1e6, 2) == 25.62


@pytest.mark.parametrize('position', ['after_conv1', 'after_conv2', 'after_conv3'])
def test_scsa_in_every_bottleneck_position(position):
    m = resnet50_with_plugin(SCSA, position).layer4[0].scsa
    assert_finite_grads(m.q.weight)


def test_scsa_takes_the_official_cfg_and_state_dict_names():
    official_cfg = dict(attn_drop_ratio=0.0, down_sample_mode='avg_pool', gate_layer='sigmoid',
                        group_kernel_sizes=[3, 5, 7, 9], head_num=1, window_size=7)
    m = SCSA(64, **official_cfg)
    official_keys = {f'{name}.{p}' for name in ('local_dwc', 'global_dwc_s', 'global_dwc_m',
                                                'global_dwc_l', 'norm_h', 'norm_w', 'norm')
                     for p in ('weight', 'bias')} | {'q.weight', 'k.weight', 'v.weight'}
    assert set(m.state_dict()) == official_keys
