import io
import warnings

import pytest
import torch
import torch.nn as nn

from mmattn import GatedTemporalConv
from mmattn.compat import onnx_export
from tests.conftest import cpu_half_dtypes
from .helpers import randomize


def naive_inception(x, convs, kernel_sizes, dilation):
    """Every branch over the whole input, tap by tap; then cropped to its last steps."""
    x = x.double()
    T = x.shape[-1]
    outs = []
    for conv, k in zip(convs, kernel_sizes):
        length = T - dilation * (k - 1)
        out = conv.bias.double().view(1, -1, 1, 1).repeat(x.shape[0], 1, x.shape[2], length)
        for tap in range(k):
            out = out + torch.einsum('oc,bcnt->bont', conv.weight[:, :, 0, tap].double(),
                                     x[..., tap * dilation:tap * dilation + length])
        outs.append(out)
    shortest = min(o.shape[-1] for o in outs)
    return torch.cat([o[..., -shortest:] for o in outs], dim=1)


def naive_mlp(t, mlp):
    if isinstance(mlp, nn.Identity):
        return t
    first, _, last = mlp
    hidden = torch.relu(t @ first.weight.double().t() + first.bias.double())
    return hidden @ last.weight.double().t() + last.bias.double()


def naive_gtc(x, m):
    f = naive_mlp(naive_inception(x, m.filter_convs, m.kernel_sizes, m.dilation), m.filter_mlp)
    g = naive_mlp(naive_inception(x, m.gate_convs, m.kernel_sizes, m.dilation), m.gate_mlp)
    return torch.tanh(f) * torch.sigmoid(g)


@pytest.mark.parametrize('shape,kwargs,out_len', [
    ((1, 8, 1, 7), {}, 1),
    ((3, 8, 5, 24), {}, 18),
    ((3, 16, 3, 19), dict(out_channels=12, dilation=2), 7),
    ((1, 6, 2, 24), dict(out_channels=4, seq_len=24), 24),
    ((3, 4, 7, 13), dict(out_channels=8, dilation=2, seq_len=13, mlp_channels=5), 13),
    ((3, 6, 2, 9), dict(kernel_sizes=(1, 4), out_channels=6, seq_len=9), 9),
])
def test_gtc_matches_naive(shape, kwargs, out_len):
    m = randomize(GatedTemporalConv(shape[1], **kwargs), std=0.3).eval()
    x = torch.randn(shape)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (shape[0], m.out_channels, shape[2], out_len)
    torch.testing.assert_close(y.double(), naive_gtc(x, m), rtol=1e-5, atol=1e-5)


def test_gtc_seed_configuration():
    # The seed's demo: temporal_conv(cin=32, cout=32, dilation_factor=1, seq_len=24).
    m = GatedTemporalConv(32, 32, dilation=1, seq_len=24)
    assert [c.kernel_size for c in m.filter_convs] == [(1, 2), (1, 3), (1, 6), (1, 7)]
    assert all(c.out_channels == 8 for c in m.gate_convs)
    assert m.filter_mlp[0].in_features == 18 and m.filter_mlp[0].out_features == 32
    assert m.filter_mlp[2].out_features == 24
    assert m(torch.randn(1, 32, 1, 24)).shape == (1, 32, 1, 24)
    per_inception = 32 * 8 * (2 + 3 + 6 + 7) + 32 + (18 * 32 + 32) + (32 * 24 + 24)
    assert sum(p.numel() for p in m.parameters()) == 2 * per_inception
    assert m._layout_ == 'BCNT'


def test_gtc_plain_form_is_mtgnn_and_backward():
    m = GatedTemporalConv(16, 32, dilation=2)
    assert isinstance(m.filter_mlp, nn.Identity) and isinstance(m.gate_mlp, nn.Identity)
    x = torch.randn(3, 16, 4, 20, requires_grad=True)
    y = m(x)
    assert y.shape == (3, 32, 4, 20 - 2 * 6)
    assert y.abs().max() < 1  # tanh times sigmoid
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all()
    x2 = x.detach().clone()
    x2[1:] = torch.randn(2, 16, 4, 20)
    torch.testing.assert_close(m(x2)[0], y[0].detach())


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(in_channels=8, out_channels=6), ValueError,
     r'GatedTemporalConv: out_channels=6 must be divisible by len\(kernel_sizes\)=4'),
    (dict(in_channels=8, seq_len=6), ValueError,
     r'GatedTemporalConv: seq_len=6 is shorter than the dilated kernels cover: .* = 7'),
    (dict(in_channels=8, dilation=3, seq_len=18), ValueError, r'seq_len=18 .* = 19'),
    (dict(in_channels=8, dilation=0), ValueError, r'GatedTemporalConv: dilation=0 must be >= 1'),
    (dict(in_channels=8, kernel_sizes=()), ValueError, r'kernel_sizes must not be empty'),
])
def test_gtc_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GatedTemporalConv(**kwargs)


def test_gtc_rejects_bad_input():
    with pytest.raises(ValueError, match=r'GatedTemporalConv: input length T=12 is shorter than '
                                         r'the dilated kernels cover: .* = 13'):
        GatedTemporalConv(8, dilation=2)(torch.randn(1, 8, 3, 12))
    with pytest.raises(ValueError, match=r'GatedTemporalConv: input length T=20 must equal '
                                         r'seq_len=24'):
        GatedTemporalConv(8, seq_len=24)(torch.randn(1, 8, 3, 20))
    with pytest.raises(ValueError, match=r'expected an input of shape \(B, 8, N, T\)'):
        GatedTemporalConv(8)(torch.randn(1, 8, 24))


@pytest.mark.parametrize('seq_len', [None, 16])
def test_gtc_low_precision_trace_and_onnx(seq_len):
    ort = pytest.importorskip('onnxruntime')
    m = randomize(GatedTemporalConv(8, seq_len=seq_len), std=0.3).eval()
    x = torch.randn(2, 8, 3, 16)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        ref = m(x)
        for dtype in cpu_half_dtypes():
            y = m.to(dtype)(x.to(dtype) * 1e3)
            m.float()
            assert y.dtype == dtype and torch.isfinite(y).all()
        x2 = torch.randn(3, 8, 5, 16)
        torch.testing.assert_close(torch.jit.trace(m, x)(x2), m(x2))
        buf = io.BytesIO()
        onnx_export(m, (x, ), buf, opset_version=17, input_names=['x'],
                    output_names=['y'], dynamic_axes={'x': {0: 'b', 2: 'n'}})
    session = ort.InferenceSession(buf.getvalue())
    for inp in (x, x2):
        (out, ) = session.run(None, {'x': inp.numpy()})
        torch.testing.assert_close(torch.from_numpy(out), m(inp).detach(), rtol=1e-4, atol=1e-5)
    assert ref.shape == (2, 8, 3, 16 if seq_len else 10)
