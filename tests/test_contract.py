"""The contract of MODULES.md, checked on every 2D module mmattn registers.

The module list is read from the registry (``list_attention_modules()``), so a
module added later is swept without anyone touching this file. Every module is
built with its defaults (the paper's configuration) at the first channel counts
it accepts, its weights drawn at random (zero-initialised scales would hide the
branches behind them), and then held to each rule of the contract.
"""
import collections.abc
import copy
import inspect
import io
import os
import typing
import warnings

import numpy as np
import pytest
import torch
import torch._inductor.config
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from mmattn import list_attention_modules
from mmattn.compat import TorchFeatureError, export_dim, missing, onnx_export
from tests.conftest import skip_unless

MODULES = list_attention_modules()
NAMES = sorted(MODULES)
CANDIDATE_CHANNELS = (8, 16, 32, 64, 128)
EDGE_SIZES = [(1, 1), (1, 2), (2, 1), (3, 3), (2, 3), (3, 5), (7, 9), (16, 11)]


def valid_channels(name, candidates=CANDIDATE_CHANNELS):
    """The candidate channel counts the module's defaults accept (a ValueError means no)."""
    found = []
    for c in candidates:
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


def _skip_without_half_kernels(module, x, dtype):
    """Where the installed torch has no CPU kernels for ``dtype`` (float16 on torch 2.1), the
    module refuses a ``dtype`` input with mmattn's sentence, and the test skips with it."""
    reason = missing('cpu float16') if dtype == torch.float16 else None
    if reason is not None:
        with pytest.raises(TorchFeatureError, match='float16 on the CPU'):
            module.to(dtype)(x.to(dtype))
        pytest.skip(reason)
    if dtype == torch.float16:
        skip_unless('cpu autocast float16')


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=['bf16', 'fp16'])
@pytest.mark.parametrize('name', NAMES)
def test_low_precision_large_inputs(name, dtype):
    """Values around 1e3: where fp32 stays finite, autocast and pure half must too."""
    module = build(name)
    c = VALID[name][0]
    x = torch.randn(2, c, 9, 7) * 1e3
    with torch.no_grad():
        _skip_without_half_kernels(module, x, dtype)
        module.float()
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
        _skip_without_half_kernels(module, x, dtype)
        module.float()
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


# ------------------------------------------------------------------------------------------
# Everyday training and deployment conditions (MODULES.md): batch 1 and empty batches,
# gradient checkpointing, export and compile at other sizes, dtypes, every bad argument.
# The sequence forms (other layouts) are swept too where a rule applies to them.

SEQUENCE_MODULES = {**list_attention_modules('BNC'), **list_attention_modules('BCNT')}
ALL_MODULES = {**MODULES, **SEQUENCE_MODULES}
ALL_NAMES = sorted(ALL_MODULES)
EXPORT_SIZE = (2, 6, 7)  # B, H, W
# Smaller (1x1 included), thinner and larger than the export size, other batch sizes.
OTHER_SIZES = [(1, 1, 1), (1, 1, 9), (3, 13, 2), (2, 23, 19)]


def _required_kwargs(cls):
    """The arguments without defaults: 2D modules get their first valid channel count,
    the sequence forms 8 for every size."""
    if cls.__name__ in MODULES:
        return dict(in_channels=VALID[cls.__name__][0])
    return {k: 8 for k, p in inspect.signature(cls).parameters.items()
            if p.default is inspect.Parameter.empty}


def build_any(name):
    """Any registered module (2D or sequence form) with its defaults, in eval mode."""
    if name in MODULES:
        return build(name)
    torch.manual_seed(0)
    return SEQUENCE_MODULES[name](**_required_kwargs(SEQUENCE_MODULES[name])).eval()


def inputs_for(module, batch, dtype=torch.float32):
    """Inputs of ``module``'s layout with ``batch`` samples; a new layout must be added here."""
    layout = getattr(type(module), '_layout_', 'BCHW')
    if layout == 'BCHW':
        return [torch.randn(batch, module.in_channels, 5, 4, dtype=dtype)]
    if layout == 'BNC':
        return [torch.randn(batch, n, module.d_model, dtype=dtype) for n in (5, 7, 7)]
    if layout == 'BCNT':
        return [torch.randn(batch, module.in_channels, 3, 9, dtype=dtype)]
    raise AssertionError(f'{type(module).__name__}: no test inputs for layout {layout!r}')


def _assert_finite_training_state(module):
    for key, p in module.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), key
    for key, buf in module.named_buffers():
        assert torch.isfinite(buf.float()).all(), f'{key} is not finite after the step'


@pytest.mark.parametrize('size', [(1, 1), (2, 1), (6, 5)], ids=lambda s: f'{s[0]}x{s[1]}')
@pytest.mark.parametrize('name', NAMES)
def test_one_image_per_device_trains(name, size):
    """Batch 1 in training mode: norms that would see one value per channel fall back to
    their running statistics (mmattn.models.utils.norm); nothing raises or turns non-finite."""
    module = build(name).train()
    x = torch.randn(1, VALID[name][0], *size, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all()
    _assert_finite_training_state(module)


@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
@pytest.mark.parametrize('name', ALL_NAMES)
def test_empty_batch(name, train):
    """B = 0 (a module on RoI features when there are no RoIs): an empty output of the
    shape one sample would give, forward and backward."""
    module = build_any(name).train(train)
    with torch.no_grad():
        one = module(*inputs_for(module, 1))
    inputs = [t.requires_grad_(True) for t in inputs_for(module, 0)]
    out = module(*inputs)
    assert out.shape == (0, ) + one.shape[1:] and out.dtype == one.dtype
    out.sum().backward()
    for t in inputs:
        assert t.grad is None or t.grad.shape == t.shape
    _assert_finite_training_state(module)


def _resnet_with_cp(name, kind):
    """A one-stage mmdet ResNet-50 (3 Bottlenecks) or mmattn PluginResNet-18 (2 BasicBlocks),
    ``with_cp=True``, with the module at every position of every block."""
    from mmdet.models.backbones import ResNet

    from mmattn.models.backbones import PluginResNet
    base = next(c for c in (16, 32, 64) if c in VALID[name] and 4 * c in VALID[name]) \
        if kind == 'Bottleneck' else next(c for c in (16, 32, 64) if c in VALID[name])
    cls, depth, positions = ((ResNet, 50, ('after_conv1', 'after_conv2', 'after_conv3'))
                             if kind == 'Bottleneck' else
                             (PluginResNet, 18, ('after_conv1', 'after_conv2')))
    torch.manual_seed(0)
    return cls(depth=depth, num_stages=1, strides=(1, ), dilations=(1, ), out_indices=(0, ),
               base_channels=base, with_cp=True,
               plugins=[dict(cfg=dict(type=name, postfix=i), position=p)
                        for i, p in enumerate(positions)]), len(positions)


@pytest.mark.parametrize('kind', ['Bottleneck', 'BasicBlock'])
@pytest.mark.parametrize('name', NAMES)
def test_gradient_checkpointing_at_every_position(name, kind):
    """with_cp=True: no in-place edit of a view a checkpoint returns (mmdet adds the identity
    in place after the plugins, and the block's ReLU is in place); same output and input
    gradient as without checkpointing."""
    net, num_positions = _resnet_with_cp(name, kind)
    plugins = [m for m in net.modules() if type(m) is MODULES[name]]
    assert len(plugins) == num_positions * len(net.layer1)
    plain = copy.deepcopy(net)
    for block in plain.layer1:
        block.with_cp = False
    x = torch.randn(2, 3, 20, 24)
    outs, grads = [], []
    for model in (net, plain):
        model.train()  # (mmdet's ResNet.train returns None)
        xg = x.clone().requires_grad_(True)
        (out, ) = model(xg)
        out.square().mean().backward()
        outs.append(out)
        grads.append(xg.grad)
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)
    for m in plugins:
        for key, p in m.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), key


def _boolean_variants(name):
    """The module built with each of its bool arguments flipped from the default, where
    that builds (a pair the module refuses with a sentence is skipped)."""
    cls, c = MODULES[name], VALID[name][0]
    for key, param in inspect.signature(cls.__init__).parameters.items():
        if isinstance(param.default, bool):
            try:
                yield f'{key}={not param.default}', cls(c, **{key: not param.default})
            except (TypeError, ValueError):
                continue


@pytest.mark.parametrize('name', NAMES)
def test_every_boolean_option_trains_at_batch_1_and_0_and_returns_no_view(name):
    """With the defaults or any bool argument flipped, in training: one image of 1x1, an
    empty batch, and two images train (finite gradients, shape kept), and the output is
    never a view (nor the input itself): mmdet's Bottleneck adds the identity in place after
    the plugins, and under ``with_cp=True`` that in-place add on a view the checkpoint
    returns fails."""
    c = VALID[name][0]
    for label, module in [('defaults', build(name))] + list(_boolean_variants(name)):
        module.train()
        for shape in [(1, c, 1, 1), (0, c, 3, 4), (2, c, 1, 1), (2, c, 5, 6)]:
            x = torch.randn(shape, requires_grad=True)
            out = module(x)
            where = f'{name}({label}) at {shape}'
            assert out.shape == x.shape, where
            assert out._base is None and out is not x, f'{where}: a view'
            out.square().sum().backward()
            assert torch.isfinite(x.grad).all(), where
        _assert_finite_training_state(module)


@pytest.mark.parametrize('name', NAMES)
def test_jit_trace_at_other_sizes(name):
    """A module traced at one size gives eager's outputs at smaller (1x1), thinner, larger
    sizes and other batch sizes: no Python branch or constant froze the trace size."""
    module = build(name)
    c = VALID[name][0]
    b, h, w = EXPORT_SIZE
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(module, torch.randn(b, c, h, w))
        for b, h, w in OTHER_SIZES:
            x = torch.randn(b, c, h, w)
            torch.testing.assert_close(traced(x), module(x), rtol=1e-4, atol=1e-5,
                                       msg=lambda m: f'{b}x{c}x{h}x{w}: {m}')


@pytest.mark.parametrize('name', NAMES)
def test_onnx_export_at_other_sizes(name):
    """ONNX (opset 17, dynamic B, H, W) from one export size, run by onnxruntime at others."""
    ort = pytest.importorskip('onnxruntime')
    module = build(name)
    c = VALID[name][0]
    f = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        onnx_export(
            module, (torch.randn(EXPORT_SIZE[0], c, *EXPORT_SIZE[1:]), ), f, opset_version=17,
            input_names=['x'], output_names=['y'],
            dynamic_axes={'x': {0: 'B', 2: 'H', 3: 'W'}})
    session = ort.InferenceSession(f.getvalue(), providers=['CPUExecutionProvider'])
    for b, h, w in OTHER_SIZES:
        x = torch.randn(b, c, h, w)
        (y, ) = session.run(None, {'x': x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(y, module(x).numpy(), rtol=1e-4, atol=1e-4,
                                       err_msg=f'{b}x{c}x{h}x{w}')


def _export_and_compare(module, c, sizes):
    """``torch.export`` of ``module`` at EXPORT_SIZE with dynamic B, H, W (named dims
    ``min=1``), run at ``sizes`` against eager; skipped where torch has no dynamic export."""
    skip_unless('dynamic torch.export')
    # Named dims: export refuses any guard that does not hold for every size >= 1
    # (Dim.DYNAMIC would instead defer some of them to run time).
    dynamic = {0: export_dim('B'), 2: export_dim('H'), 3: export_dim('W')}
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        program = torch.export.export(
            module, (torch.randn(EXPORT_SIZE[0], c, *EXPORT_SIZE[1:]), ),
            dynamic_shapes=(dynamic, )).module()
    for b, h, w in sizes:
        x = torch.randn(b, c, h, w)
        with torch.no_grad():
            torch.testing.assert_close(program(x), module(x), rtol=1e-4, atol=1e-5,
                                       msg=lambda m: f'{b}x{c}x{h}x{w}: {m}')


@pytest.mark.parametrize('name', NAMES)
def test_torch_export_with_dynamic_sizes(name):
    """torch.export with dynamic B, H, W constrains none of them: the program runs at 1x1,
    small and large sizes, on both sides of any size threshold (DANetPAM's impl='auto'
    switches path above 64x64: 65x64 is past it)."""
    _export_and_compare(build(name), VALID[name][0], OTHER_SIZES + [(1, 65, 64)])


# Channel counts off the powers of two: one channel, and counts whose head or group
# layout pads (DANetPAM's fused path splits 129 channels into 2 heads of 65). Per module
# the smallest it takes, and 129 (else the largest).
AWKWARD_CHANNELS = (1, 12, 129, 264)


def _awkward(name):
    taken = valid_channels(name, AWKWARD_CHANNELS)
    return sorted({taken[0], 129 if 129 in taken else taken[-1]}) if taken else []


AWKWARD = [(name, c) for name in NAMES for c in _awkward(name)]


@pytest.mark.parametrize('name,channels', AWKWARD, ids=[f'{n}-{c}' for n, c in AWKWARD])
def test_torch_export_at_awkward_channel_counts(name, channels):
    """The exported program of every channel count a module takes (not only the powers of
    two above) runs at 1x1 and beyond with eager's outputs, on both sides of DANetPAM's
    size threshold."""
    _export_and_compare(build(name, channels), channels, [(1, 1, 1), (3, 13, 2), (1, 65, 64)])


@pytest.fixture(scope='module')
def inductor_cache(tmp_path_factory):
    """Inductor's caches in the pytest tmp dir, not in the user's /tmp/torchinductor_*."""
    old = os.environ.get('TORCHINDUCTOR_CACHE_DIR')
    os.environ['TORCHINDUCTOR_CACHE_DIR'] = str(tmp_path_factory.mktemp('inductor'))
    yield
    torch._dynamo.reset()
    if old is None:
        del os.environ['TORCHINDUCTOR_CACHE_DIR']
    else:
        os.environ['TORCHINDUCTOR_CACHE_DIR'] = old


@pytest.mark.slow
@pytest.mark.parametrize('name', NAMES)
def test_inductor_compiled_training_across_sizes(name, inductor_cache):
    """torch.compile (inductor, dynamic sizes, as for a training run whose batch and image
    sizes change) in training at two sizes: outputs and every gradient equal eager's (at 15x9
    SCSA's pooled map has two positions, at 5x6 one)."""
    torch._dynamo.reset()
    module = build(name).train()
    eager = copy.deepcopy(module)
    compiled = torch.compile(module, backend='inductor', dynamic=True)
    # torch 2.14.1's inductor, with its conv layout optimization, asserts the first size's
    # strides on the second size whenever a convolution takes a reduction of an input that
    # is used again (a plain PyTorch SE block: x * conv(x.mean((2, 3), keepdim=True)) fails
    # with "expected size 3==3, stride 1080==240 at dim=0"); the documented work-around.
    with torch._inductor.config.patch(layout_optimization=False):
        c = VALID[name][0]
        for shape in [(2, c, 5, 6), (3, c, 15, 9)]:
            x = torch.randn(shape)
            xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            ya, yb = compiled(xa), eager(xb)
            g = torch.randn_like(yb)
            (ya * g).sum().backward()
            (yb * g).sum().backward()
            torch.testing.assert_close(ya, yb, rtol=1e-4, atol=1e-4)
            # Gradients as whole tensors: BatchNorm over two values (a pooled descriptor at
            # batch 2) amplifies the rounding of a reordered sum in single elements, and the
            # gradient of a bias before a BatchNorm is 0 up to rounding (~1e-6).
            pairs = [('input', xa.grad, xb.grad)] + [
                (key, pa.grad, pb.grad)
                for (key, pa), pb in zip(module.named_parameters(), eager.parameters())]
            for key, ga, gb in pairs:
                assert (ga - gb).norm() <= 1e-3 * gb.norm() + 1e-4, key
            for p in list(module.parameters()) + list(eager.parameters()):
                p.grad = None
    torch._dynamo.reset()


@pytest.mark.parametrize('bad', ['int64', 'bool', 'complex64', 'list'])
@pytest.mark.parametrize('name', ALL_NAMES)
def test_non_floating_and_non_tensor_inputs_raise(name, bad):
    module = build_any(name)
    inputs = inputs_for(module, 2)
    inputs[0] = (inputs[0].tolist() if bad == 'list' else
                 inputs[0].to(getattr(torch, bad)))
    with pytest.raises(TypeError) as info:
        module(*inputs)
    assert name in str(info.value), str(info.value)


class _RecordDtypes(TorchDispatchMode):
    """The floating dtypes of every op's outputs."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else [out]):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.seen.setdefault(t.dtype, str(func))
        return out


@pytest.mark.parametrize('name', ALL_NAMES)
def test_float64_is_computed_in_float64(name):
    """No op of a float64 module on float64 inputs produces a lower precision tensor."""
    module = build_any(name).double()
    with torch.no_grad(), _RecordDtypes() as record:
        out = module(*inputs_for(module, 2, torch.float64))
    assert out.dtype == torch.float64
    assert set(record.seen) == {torch.float64}, record.seen


def _hint_parts(hint):
    """``(types, optional)`` of a type hint: ``Optional[int]`` -> ``({int}, True)``."""
    if typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
        return [a for a in args if a is not type(None)], type(None) in args
    return [hint], False


def _is_int_sequence(hint):
    return (typing.get_origin(hint) in (collections.abc.Sequence, list, tuple)
            and typing.get_args(hint)[:1] == (int, ))


_NORMS_TO_TRY = [dict(type='LN'), dict(type='BN1d'), dict(type='IN'), dict(type='GN', num_groups=3)]


def _bad_argument_cases():
    """(module, argument, bad value, must_raise) from each constructor's signature and type
    hints: configs, probabilities, numbers, choices, ints and int sequences. must_raise=False
    marks values a module may accept (a norm it can apply, one int for a sequence): then it
    must also work."""
    cases = []
    for name, cls in sorted(ALL_MODULES.items()):
        hints = typing.get_type_hints(cls.__init__)
        for arg, param in inspect.signature(cls).parameters.items():
            if arg == 'init_cfg' or param.default is inspect.Parameter.empty:
                continue  # the required sizes have their own test (test_bad_in_channels)
            types, optional = _hint_parts(hints.get(arg))
            none = [] if optional else [None]
            must, may = [], []
            if arg.endswith('_cfg'):
                must = ['ReLU', dict(type='NoSuchLayer'), dict(typ='ReLU')] + none
                may = _NORMS_TO_TRY if 'norm' in arg else []
            elif 'drop' in arg:
                must = ['0.1', None, float('nan'), -0.1, 1.5]
            elif float in types:
                must = ['2', float('nan'), float('inf'), -float('inf')] + none
                may = [1e300, -1e300]
            elif str in types:
                must = ['no-such-choice', 3] + none
            elif int in types:
                must = ['8', 2.5, True, 0, -3] + none
            elif any(_is_int_sequence(t) for t in types):
                must = [(), ('3', ), '357'] + none
                may = [3]
            cases += [(name, arg, v, True) for v in must] + [(name, arg, v, False) for v in may]
    return cases


BAD_ARGUMENTS = _bad_argument_cases()


@pytest.mark.parametrize('name,arg,value,must_raise', BAD_ARGUMENTS,
                         ids=[f'{n}-{a}={v!r}' for n, a, v, _ in BAD_ARGUMENTS])
def test_bad_arguments(name, arg, value, must_raise):
    """Each bad argument raises at construction a TypeError/ValueError naming the module, the
    argument and the value; a value a module may accept works in training at batch 1 and 2."""
    cls = ALL_MODULES[name]
    kwargs = dict(_required_kwargs(cls), **{arg: value})
    try:
        module = cls(**kwargs)
    except (TypeError, ValueError) as error:
        message = str(error)
        assert name in message and arg in message, message
        if isinstance(value, dict) and 'type' in value:
            # an unknown type is named (with the closest registered names)
            assert repr(value['type']) in message, message
        elif isinstance(value, (str, dict, float, int, type(None))):
            shown = {repr(value), str(value)}
            if isinstance(value, float):
                shown.add(f'{value:g}')
            assert any(s in message for s in shown), message
        return
    assert not must_raise, f'{name}({arg}={value!r}) was accepted'
    for batch in (1, 2):
        module.train()
        inputs = [t.requires_grad_(True) for t in inputs_for(module, batch)]
        out = module(*inputs)
        assert torch.isfinite(out).all()
        out.sum().backward()
        _assert_finite_training_state(module)
    with torch.no_grad():
        assert torch.isfinite(module.eval()(*inputs_for(module, 2))).all()


# ------------------------------------------------------------------------------------------
# Bad inputs, each refused by one sentence naming the module, the value and the rule; the
# meta device (shapes only, as deferred initialisation of large models runs).

# The position dims of each layout: a map without positions is refused (B = 0 is not).
POSITIONS = {'BCHW': 'HW', 'BCNT': 'N'}


def _zero_size_cases():
    cases = []
    for name in ALL_NAMES:
        layout = getattr(ALL_MODULES[name], '_layout_', 'BCHW')
        for letters in POSITIONS.get(layout, ()):
            cases.append((name, letters))
        if len(POSITIONS.get(layout, '')) > 1:
            cases.append((name, POSITIONS[layout]))  # all of them at once
    return cases


ZERO_SIZE_CASES = _zero_size_cases()


@pytest.mark.parametrize('batch', [2, 0], ids=['B2', 'B0'])
@pytest.mark.parametrize('name,zeroed', ZERO_SIZE_CASES,
                         ids=[f'{n}-{z}=0' for n, z in ZERO_SIZE_CASES])
def test_zero_size_positions_are_refused_with_a_sentence(name, zeroed, batch):
    """H or W = 0 (N = 0 for the (B, C, N, T) form) raises the shared check's ValueError,
    naming the module, the shape and the rule, in eval and in training, also at B = 0."""
    module = build_any(name)
    layout = getattr(type(module), '_layout_', 'BCHW')
    (x, ) = inputs_for(module, batch)
    shape = list(x.shape)
    for letter in zeroed:
        shape[layout.index(letter)] = 0
    for train in (False, True):
        with pytest.raises(ValueError) as info:
            module.train(train)(torch.randn(shape))
        message = str(info.value)
        assert message.startswith(f'{name}: ') and str(tuple(shape)) in message, message
        assert all(f'{letter}=0' in message for letter in zeroed), message
        assert '>= 1' in message, message


@pytest.mark.parametrize('name', sorted(list_attention_modules('BNC')))
def test_sequences_without_queries_or_keys(name):
    """A sequence form with no queries gives no outputs; queries without keys get what a
    fully masked row gets (zero attention, then the output map), never NaN."""
    module = build_any(name)
    q, k, v = inputs_for(module, 2)
    with torch.no_grad():
        assert module(q[:, :0], k, v).shape == (2, 0, module.d_model)
        no_keys = module(q, k[:, :0], v[:, :0])
        masked = module(q, k, v, torch.ones(q.shape[1], k.shape[1], dtype=torch.bool))
    assert torch.isfinite(no_keys).all()
    torch.testing.assert_close(no_keys, masked)


def _meta_inputs(module, batch):
    return [t.to('meta') for t in inputs_for(module, batch)]


@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
@pytest.mark.parametrize('name', ALL_NAMES)
def test_meta_device_gives_shapes(name, train):
    """On the meta device (a module moved there, or built there) every module gives the
    output shape and dtype of the CPU, at batch 2, 1 and 0, and backward runs."""
    module = build_any(name).train(train)
    with torch.no_grad():
        expected = {b: module(*inputs_for(module, b)) for b in (2, 1, 0)}
    kwargs = _required_kwargs(type(module))
    with torch.device('meta'):
        built = type(module)(**kwargs).train(train)
    for label, meta in (('moved', copy.deepcopy(module).to('meta')), ('built', built)):
        for batch, ref in expected.items():
            inputs = [t.requires_grad_(True) for t in _meta_inputs(module, batch)]
            out = meta(*inputs)
            where = f'{name} ({label} on meta) at batch {batch}'
            assert out.is_meta and out.shape == ref.shape and out.dtype == ref.dtype, where
            out.sum().backward()
            assert all(t.grad is None or t.grad.shape == t.shape for t in inputs), where


@pytest.mark.parametrize('name', sorted(list_attention_modules('BNC')))
def test_meta_device_with_mask_and_weights(name):
    module = build_any(name).to('meta')
    q, k, v = _meta_inputs(module, 2)
    mask = torch.zeros(2, 1, q.shape[1], k.shape[1], dtype=torch.bool, device='meta')
    weights = torch.ones(2, module.h, q.shape[1], k.shape[1], device='meta')
    assert module(q, k, v, mask, weights).shape == q.shape


def test_meta_device_through_the_detector_with_every_module():
    """The backbone and necks of the demo detector that holds every registered module (and
    ASFF), built on the meta device and run there."""
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from tests.conftest import CONFIG_DIR
    cfg = Config.fromfile(str(CONFIG_DIR / 'demo' /
                              'retinanet_r18-every-attention_fpn-asff_300i_toy-coco.py'))
    init_default_scope('mmdet')
    with torch.device('meta'):
        backbone = MMDET_MODELS.build(cfg.model.backbone)
        necks = [MMDET_MODELS.build(n) for n in cfg.model.neck]
    types = {type(m).__name__ for m in backbone.modules()}
    assert set(NAMES) <= types, set(NAMES) - types
    feats = backbone(torch.empty(2, 3, 96, 64, device='meta'))
    for neck in necks:
        feats = neck(feats)
    assert all(f.is_meta for f in feats)
    assert [tuple(f.shape[2:]) for f in feats] == [(12, 8), (6, 4), (3, 2), (2, 1), (1, 1)]


def _bad_mask_shapes(b, h, nq, nk):
    """Shapes that do not broadcast to the scores (B, h, nq, nk), or would enlarge them."""
    assert b not in (1, h)  # so that (b, nq, nk), read as (h, nq, nk), is refused
    return [(b, nq, nk + 1), (b + 1, 1, nq, nk), (b, h + 1, nq, nk), (1, b, h, nq, nk),
            (nq + 1, nk), (nk, nq), (b, nq, nk)]


def _good_mask_shapes(b, h, nq, nk):
    return [(nq, nk), (b, 1, nq, nk), (b, h, nq, nk), (b, 1, 1, nk), (1, nk), (h, nq, nk)]


@pytest.mark.parametrize('argument', ['attention_mask', 'attention_weights'])
@pytest.mark.parametrize('name', sorted(list_attention_modules('BNC')))
def test_mask_and_weight_shapes_are_checked(name, argument):
    """A mask or weights must broadcast to the attention scores (B, h, nq, nk) without
    enlarging them; any other shape is refused naming the module, the argument and the
    shape (not a broadcasting error from inside torch)."""
    module = build_any(name)
    q, k, v = inputs_for(module, 2)
    dims = (2, module.h, q.shape[1], k.shape[1])

    def make(shape):
        if argument == 'attention_mask':
            return dict(attention_mask=torch.rand(shape) < 0.3)
        return dict(attention_weights=torch.rand(shape) + 0.5)

    for shape in _bad_mask_shapes(*dims):
        with pytest.raises(ValueError) as info:
            module(q, k, v, **make(shape))
        message = str(info.value)
        assert message.startswith(f'{name}: {argument} of shape {shape}'), message
        assert str(dims) in message, message
    for shape in _good_mask_shapes(*dims) + [()]:
        with torch.no_grad():
            assert module(q, k, v, **make(shape)).shape == q.shape, shape
