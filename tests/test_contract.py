"""The contract of MODULES.md, checked on every 2D module mmattn registers.

The module list is read from the registry (``list_attention_modules()``), so a
module added later is swept without anyone touching this file. Every module is
built with its defaults (the paper's configuration) at the first channel counts
it accepts, its weights drawn at random (zero-initialised scales would hide the
branches behind them), and then held to each rule of the contract.
"""
import io
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmattn import list_attention_modules

MODULES = list_attention_modules()
NAMES = sorted(MODULES)
CANDIDATE_CHANNELS = (8, 16, 32, 64, 128)
EDGE_SIZES = [(1, 1), (1, 2), (2, 1), (3, 3), (2, 3), (3, 5), (7, 9), (16, 11)]


def valid_channels(name):
    """The candidate channel counts the module's defaults accept (a ValueError means no)."""
    found = []
    for c in CANDIDATE_CHANNELS:
        try:
            MODULES[name](c)
        except ValueError:
            continue
        found.append(c)
    return found


VALID = {name: valid_channels(name) for name in NAMES}


def build(name, channels=None, seed=0):
    """The module with defaults, random weights and random BN statistics, in eval mode."""
    channels = channels or VALID[name][0]
    torch.manual_seed(seed)
    module = MODULES[name](channels)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
        for key, buf in module.named_buffers():
            if key.endswith('running_var'):
                buf.copy_(torch.rand_like(buf) + 0.5)
            elif key.endswith('running_mean'):
                buf.copy_(torch.randn_like(buf) * 0.1)
    return module.eval()


def test_the_registry_lists_the_catalog():
    # The sweep is only as good as the list it sweeps.
    assert 'SE' in MODULES
    for name in NAMES:
        assert VALID[name], f'{name} accepts none of the channel counts {CANDIDATE_CHANNELS}'


def _check_forward_backward(module, x):
    x = x.clone().requires_grad_(True)
    y = module(x)
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all()
    for key, p in module.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), key


@pytest.mark.parametrize('size', EDGE_SIZES, ids=lambda s: f'{s[0]}x{s[1]}')
@pytest.mark.parametrize('name', NAMES)
def test_edge_sizes(name, size):
    module = build(name)
    _check_forward_backward(module, torch.randn(2, VALID[name][0], *size))


@pytest.mark.parametrize('name', NAMES)
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_shapes(name, data):
    channels = data.draw(st.sampled_from(VALID[name][:3]), label='C')
    batch = data.draw(st.integers(1, 3), label='B')
    h = data.draw(st.integers(1, 24), label='H')
    w = data.draw(st.integers(1, 24), label='W')
    _check_forward_backward(build(name, channels), torch.randn(batch, channels, h, w))


@pytest.mark.parametrize('name', NAMES)
def test_train_mode(name):
    # Training mode: BatchNorm uses batch statistics; still shape-preserving and finite.
    module = build(name).train()
    _check_forward_backward(module, torch.randn(2, VALID[name][0], 6, 5))


@pytest.mark.parametrize('name', NAMES)
def test_batch_independence(name):
    module = build(name).double()
    c = VALID[name][0]
    x = torch.randn(3, c, 7, 6, dtype=torch.double)
    with torch.no_grad():
        y = module(x)
        x2 = x.clone()
        x2[1:] = torch.randn(2, c, 7, 6, dtype=torch.double) * 5
        y2 = module(x2)
        y_alone = module(x[:1])
    torch.testing.assert_close(y2[0], y[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(y_alone[0], y[0], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=['bf16', 'fp16'])
@pytest.mark.parametrize('name', NAMES)
def test_low_precision_large_inputs(name, dtype):
    """Values around 1e3: where fp32 stays finite, autocast and pure half must too."""
    module = build(name)
    c = VALID[name][0]
    x = torch.randn(2, c, 9, 7) * 1e3
    with torch.no_grad():
        ref = module(x)
        if not torch.isfinite(ref).all():
            pytest.skip('the fp32 output itself overflows at this magnitude')
        if ref.abs().amax() > torch.finfo(dtype).max:
            # A product of two linear maps (ScaleAwareModulation) reaches ~1e6 here:
            # no fp16 number holds it, whatever the module computes inside.
            pytest.skip(f'the fp32 output exceeds the largest {dtype} number')
        with torch.autocast('cpu', dtype=dtype):
            y_auto = module(x)
        y_half = module.to(dtype)(x.to(dtype))
    # Only finiteness here: without 1/sqrt(d) scaling (DANet), a softmax over
    # energies of ~1e6 is one-hot, and rounding the inputs to 8 bits moves its peak.
    assert torch.isfinite(y_auto).all(), 'autocast output not finite'
    assert y_half.dtype == dtype
    assert torch.isfinite(y_half).all(), 'pure half output not finite'


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=['bf16', 'fp16'])
@pytest.mark.parametrize('name', NAMES)
def test_low_precision_agrees_with_fp32(name, dtype):
    """At unit-scale inputs, half precision is fp32 up to rounding, not a wrong statistic."""
    module = build(name)
    x = torch.randn(2, VALID[name][0], 9, 7)
    with torch.no_grad():
        ref = module(x)
        with torch.autocast('cpu', dtype=dtype):
            y_auto = module(x)
        y_half = module.to(dtype)(x.to(dtype))
    scale = ref.abs().amax().clamp_min(1)
    for y in (y_auto, y_half):
        assert ((y.float() - ref).abs().amax() / scale) < 0.1


@pytest.mark.parametrize('name', NAMES)
def test_channels_last(name):
    module = build(name)
    x = torch.randn(2, VALID[name][0], 9, 6)
    with torch.no_grad():
        ref = module(x)
        y = module(x.contiguous(memory_format=torch.channels_last))
        y_cl = module.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y_cl, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', NAMES)
def test_jit_trace(name):
    module = build(name)
    c = VALID[name][0]
    x, x_other = torch.randn(2, c, 8, 8), torch.randn(3, c, 8, 8)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(module, x)
        torch.testing.assert_close(traced(x), module(x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(traced(x_other), module(x_other), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', NAMES)
def test_onnx_export_dynamic_size(name):
    ort = pytest.importorskip('onnxruntime')
    module = build(name)
    c = VALID[name][0]
    x = torch.randn(1, c, 12, 10)
    f = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(
            module, (x, ), f, opset_version=17, dynamo=False, input_names=['x'],
            output_names=['y'], dynamic_axes={'x': {0: 'B', 2: 'H', 3: 'W'}})
    session = ort.InferenceSession(f.getvalue(), providers=['CPUExecutionProvider'])
    x2 = torch.randn(2, c, 9, 15)
    (y2, ) = session.run(None, {'x': x2.numpy()})
    with torch.no_grad():
        ref = module(x2).numpy()
    np.testing.assert_allclose(y2, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('value,error', [(0, ValueError), (-8, ValueError),
                                         (16.5, TypeError), ('64', TypeError)])
def test_bad_in_channels(name, value, error):
    with pytest.raises(error) as info:
        MODULES[name](value)
    assert not isinstance(info.value, AssertionError)
    assert name in str(info.value) and 'in_channels' in str(info.value), str(info.value)


@pytest.mark.parametrize('name', NAMES)
def test_bad_input(name):
    c = VALID[name][0]
    module = build(name)
    for x in (torch.randn(c, 5, 5), torch.randn(2, c + 1, 5, 5), torch.randn(2, c, 5, 5, 1)):
        with pytest.raises(ValueError) as info:
            module(x)
        assert name in str(info.value), str(info.value)


def _bottleneck_attributes():
    from mmdet.models.backbones.resnet import BasicBlock, Bottleneck
    from mmseg.models.backbones.resnet import Bottleneck as SegBottleneck
    names = set()
    for block in (Bottleneck(64, 16), BasicBlock(16, 16), SegBottleneck(64, 16)):
        names |= set(dir(block)) | {k for k, _ in block.named_modules()}
    return names


def test_abbreviations_unique_and_free():
    from mmcv.cnn import ContextBlock, GeneralizedAttention, NonLocal2d
    abbrs = {name: cls._abbr_ for name, cls in MODULES.items()}
    assert all(isinstance(a, str) and a for a in abbrs.values()), abbrs
    assert len(set(abbrs.values())) == len(abbrs), abbrs
    mmcv_abbrs = {ContextBlock._abbr_, GeneralizedAttention._abbr_, NonLocal2d._abbr_}
    taken = _bottleneck_attributes()
    for name, abbr in abbrs.items():
        assert abbr not in mmcv_abbrs, (name, abbr)
        assert abbr not in taken, (name, abbr)


@pytest.mark.parametrize('name', NAMES)
def test_is_a_plugin(name):
    """build_plugin_layer gives it ``in_channels`` and names it by its ``_abbr_``."""
    from mmcv.cnn import build_plugin_layer
    from mmengine.model import BaseModule
    c = VALID[name][0]
    layer_name, layer = build_plugin_layer(dict(type=name), in_channels=c, postfix='2')
    assert layer_name == MODULES[name]._abbr_ + '2'
    assert isinstance(layer, BaseModule) and isinstance(layer, nn.Module)
