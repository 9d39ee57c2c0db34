"""ASFF: every level resampled to every level, softmax-weighted, against a float64 naive fusion."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import init_default_scope

from mmattn import ASFF
from mmattn.compat import onnx_export
from tests.conftest import skip_unless
from ..test_utils.toy_plugins import mim_config, quiet_init


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


def _randomize(model):
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.weight.shape, generator=g) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.2
            m.running_mean = torch.randn(m.running_mean.shape, generator=g) * 0.2
            m.running_var = torch.rand(m.running_var.shape, generator=g) + 0.5
        elif isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.data = torch.randn(m.bias.shape, generator=g)
    return model


# --------------------------------------------------------------------- naive reference

def _conv_bn_leaky(cm, x, stride=1, padding=0):
    bn = cm.bn
    y = F.conv2d(x, cm.conv.weight, cm.conv.bias, stride, padding)
    shape = (1, -1, 1, 1)
    y = (y - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + bn.eps)
    y = y * bn.weight.view(shape) + bn.bias.view(shape)
    return torch.where(y > 0, y, 0.1 * y)


def _nearest(x, size):
    """PyTorch's 'nearest': source index floor(i * in / out), the ratio in float32."""
    (h, w), (H, W) = x.shape[-2:], size
    rows = (torch.arange(H, dtype=torch.float32) * (torch.tensor(h, dtype=torch.float32) / H))
    cols = (torch.arange(W, dtype=torch.float32) * (torch.tensor(w, dtype=torch.float32) / W))
    rows = rows.floor().long().clamp(max=h - 1)
    cols = cols.floor().long().clamp(max=w - 1)
    return x[:, :, rows][:, :, :, cols]


def _naive_asff(m, feats):
    L = len(feats)
    outs, weights = [], []
    for level in range(L):
        size = tuple(feats[level].shape[-2:])
        resized = []
        for source, x in enumerate(feats):
            if source == level:
                y = x
            elif source > level:  # coarser: 1x1 compress, then upsample
                y = _nearest(_conv_bn_leaky(m.resizers[level][source], x), size)
            else:  # finer: max-pools for the larger gaps, then a 3x3 stride-2 conv
                for _ in range(level - source - 1):
                    x = F.max_pool2d(x, 3, 2, 1)
                y = _conv_bn_leaky(m.resizers[level][source][-1], x, stride=2, padding=1)
                if tuple(y.shape[-2:]) != size:
                    y = _nearest(y, size)
            resized.append(y)
        v = torch.cat([_conv_bn_leaky(m.weight_convs[level][k], resized[k]) for k in range(L)],
                      1)
        logit_conv = m.weight_logits[level]
        logits = torch.einsum('oc,bchw->bohw', logit_conv.weight[:, :, 0, 0], v)
        logits = logits + logit_conv.bias.view(1, -1, 1, 1)
        e = torch.exp(logits - logits.max(1, keepdim=True).values)
        w = e / e.sum(1, keepdim=True)
        fused = sum(resized[k] * w[:, k:k + 1] for k in range(L))
        outs.append(_conv_bn_leaky(m.expands[level], fused, padding=1))
        weights.append(w)
    return outs, weights


def _sizes(first, num_levels):
    """A pyramid as strided convs make it: each level ceil(half) of the one before."""
    sizes = [first]
    for _ in range(num_levels - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


def _check_against_naive(m, feats):
    m = _randomize(m).double().eval()
    feats = [f.double() for f in feats]
    with torch.no_grad():
        outs, weights = m(feats, return_weights=True)
        ref_outs, ref_weights = _naive_asff(m, feats)
    assert len(outs) == len(feats)
    for o, r, f, c in zip(outs, ref_outs, feats, m.out_channels):
        assert o.shape == (f.shape[0], c, *f.shape[-2:])
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-5)
    for w, r in zip(weights, ref_weights):
        torch.testing.assert_close(w, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('sizes', [[(16, 20), (8, 10), (4, 5)],  # exact multiples
                                   [(13, 15), (7, 8), (4, 4)],  # odd sizes
                                   [(7, 9), (3, 5), (1, 1)],  # down to 1x1, floor-made
                                   ])
def test_three_levels_match_naive_fusion(batch, sizes):
    m = ASFF(in_channels=[8, 12, 16], out_channels=[8, 6, 4])
    feats = [torch.randn(batch, c, *s) for c, s in zip([8, 12, 16], sizes)]
    _check_against_naive(m, feats)


@pytest.mark.parametrize('num_levels', [2, 4, 5])
def test_any_number_of_levels_match_naive_fusion(num_levels):
    m = ASFF(in_channels=6, out_channels=5, num_levels=num_levels)
    feats = [torch.randn(2, 6, *s) for s in _sizes((13, 9), num_levels)]
    _check_against_naive(m, feats)


def test_structure_follows_the_paper():
    m = ASFF(in_channels=[4, 8, 16, 32], out_channels=8)
    # target level 3 (coarsest): source 0 is 8x finer -> two max-pools + a stride-2 conv
    seq = m.resizers[3][0]
    assert [type(x).__name__ for x in seq] == ['MaxPool2d', 'MaxPool2d', 'ConvModule']
    assert seq[-1].conv.stride == (2, 2) and seq[-1].conv.kernel_size == (3, 3)
    assert seq[-1].conv.in_channels == 4 and seq[-1].conv.out_channels == 32
    # target level 0 (finest): the coarser ones are 1x1 compressions to its channels
    assert m.resizers[0][3].conv.kernel_size == (1, 1)
    assert m.resizers[0][3].conv.out_channels == 4
    assert isinstance(m.resizers[1][1], nn.Identity)
    assert m.weight_convs[2][0].conv.out_channels == 16
    assert m.weight_logits[2].in_channels == 16 * 4 and m.weight_logits[2].out_channels == 4
    assert m.weight_logits[2].bias is not None  # plain conv to logits, no norm/activation
    assert m.expands[2].conv.kernel_size == (3, 3) and m.expands[2].conv.out_channels == 8
    assert ASFF(4, 4, num_levels=3, rfb=True).compress_channels == 8
    assert ASFF(4, 4, num_levels=3, compress_channels=4).weight_convs[0][0].conv.out_channels == 4


def test_parameter_count_after_retinanet_fpn():
    # 5 levels of 256: per ordered pair (10 each) a 1x1 or a 3x3 conv + BN, per level
    # 5 weight convs (256->16 + BN), logits (80->5 + bias) and a 3x3 expand + BN.
    m = ASFF(in_channels=256, out_channels=256, num_levels=5)
    coarser = 10 * (256 * 256 + 2 * 256)
    finer = 10 * (9 * 256 * 256 + 2 * 256)
    weight_convs = 25 * (256 * 16 + 2 * 16)
    logits = 5 * (80 * 5 + 5)
    expands = 5 * (9 * 256 * 256 + 2 * 256)
    expected = coarser + finer + weight_convs + logits + expands
    assert expected == 9_620_745
    assert sum(p.numel() for p in m.parameters()) == expected


def test_weights_are_a_distribution_over_levels_and_samples_are_independent():
    m = ASFF(in_channels=[4, 8, 8], out_channels=4).eval()
    feats = [torch.randn(3, c, *s) for c, s in zip([4, 8, 8], _sizes((9, 11), 3))]
    with torch.no_grad():
        outs, weights = m(feats, return_weights=True)
        for w, f in zip(weights, feats):
            assert w.shape == (3, 3, *f.shape[-2:])
            torch.testing.assert_close(w.sum(1), torch.ones_like(w[:, 0]))
        single = m([f[1:2] for f in feats])
    for o, s in zip(outs, single):
        torch.testing.assert_close(o[1:2], s, rtol=1e-5, atol=1e-5)
    assert isinstance(m(feats), tuple) and len(m(feats)) == 3


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_low_precision(dtype):
    if dtype == torch.float16:
        skip_unless('cpu float16')
    m = ASFF(in_channels=8, out_channels=8, num_levels=3).eval()
    feats = [torch.randn(2, 8, *s) * 30 for s in _sizes((9, 7), 3)]
    with torch.no_grad():
        ref = m(feats)
        outs, weights = m.to(dtype)([f.to(dtype) for f in feats], return_weights=True)
    for o, r, w in zip(outs, ref, weights):
        assert o.dtype == dtype and w.dtype == dtype and torch.isfinite(o).all()
        assert (o.float() - r).norm() / r.norm() < 0.05


def test_trace_and_channels_last():
    m = ASFF(in_channels=[4, 8, 8], out_channels=4).eval()
    feats = [torch.randn(2, c, *s) for c, s in zip([4, 8, 8], _sizes((9, 11), 3))]
    with torch.no_grad():
        ref = m(feats)
        traced = torch.jit.trace(m, (feats, ))
        for a, b in zip(traced(feats), ref):
            torch.testing.assert_close(a, b)
        cl = m([f.to(memory_format=torch.channels_last) for f in feats])
        for a, b in zip(cl, ref):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match='ASFF: in_channels=256 is one int: give num_levels'):
        ASFF(256, 256)
    with pytest.raises(ValueError, match=r'ASFF: num_levels=1 must be >= 2'):
        ASFF([256], 256)
    with pytest.raises(ValueError, match=r'ASFF: out_channels=\[4, 4\] must have '
                                         r'num_levels=3 entries'):
        ASFF([4, 4, 4], [4, 4])
    with pytest.raises(ValueError, match=r'ASFF: compress_channels=0 must be >= 1'):
        ASFF(4, 4, num_levels=2, compress_channels=0)
    m = ASFF([4, 8], 4)
    with pytest.raises(ValueError, match='ASFF: expected a tuple of num_levels=2 feature maps, '
                                         'got 3'):
        m([torch.randn(1, 4, 4, 4)] * 3)
    with pytest.raises(ValueError, match=r'ASFF: level 1 must have shape \(B, 8, H, W\), got '
                                         r'\(1, 4, 2, 2\)'):
        m([torch.randn(1, 4, 4, 4), torch.randn(1, 4, 2, 2)])


@pytest.mark.integration
def test_retinanet_with_asff_after_fpn_trains_one_step():
    from mmdet.registry import MODELS

    from tests.test_integration.test_mmdet_detector import _synthetic_batch
    from ..test_backbones.test_plugin_resnet import _one_train_step
    cfg = mim_config('mmdet', 'retinanet/retinanet_r50_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None
    cfg.model.neck = [cfg.model.neck, dict(type='ASFF', in_channels=256, out_channels=256,
                                           num_levels=5)]
    model = quiet_init(MODELS.build(cfg.model))
    assert isinstance(model.neck, nn.Sequential) and isinstance(model.neck[1], ASFF)
    data = _synthetic_batch()
    # Level 0 (12x16): on the 1x1 top level, train-mode BN over two samples outputs
    # +-1 whatever its input, so nothing before it gets a gradient there.
    logits = model.neck[1].weight_logits[0].weight
    before = logits.detach().clone()
    log_vars = _one_train_step(model, data)
    assert log_vars['loss'] > 0
    assert not torch.equal(logits.detach(), before)
    # The fusion weights of a real detector, for plotting.
    model.eval()
    with torch.no_grad():
        batch = model.data_preprocessor(data, False)
        feats = model.neck[0](model.backbone(batch['inputs']))
        outs, weights = model.neck[1](feats, return_weights=True)
    assert [w.shape[1] for w in weights] == [5] * 5
    assert [tuple(w.shape[-2:]) for w in weights] == [tuple(f.shape[-2:]) for f in feats]


def test_onnx_export_matches(tmp_path):
    import numpy as np
    import onnxruntime as ort
    m = ASFF(in_channels=[4, 8, 8], out_channels=4).eval()
    feats = [torch.randn(2, c, *s) for c, s in zip([4, 8, 8], _sizes((9, 11), 3))]
    path = tmp_path / 'asff.onnx'
    names = [f'level{i}' for i in range(3)]
    onnx_export(m, (feats, ), str(path), opset_version=17, input_names=names)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    outs = session.run(None, {n: f.numpy() for n, f in zip(names, feats)})
    with torch.no_grad():
        for o, r in zip(outs, m(feats)):
            np.testing.assert_allclose(o, r.numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ everyday conditions

def _after_fpn_sizes(h, w, num_levels=5):
    """Level sizes of RetinaNet's FPN (P3-P7: /8, then stride-2 3x3 convs) for an h x w image."""
    size = (-(-h // 8), -(-w // 8))
    sizes = [size]
    for _ in range(num_levels - 1):
        size = ((size[0] + 1) // 2, (size[1] + 1) // 2)
        sizes.append(size)
    return sizes


@pytest.mark.parametrize('image', [(127, 97), (33, 33), (64, 80)], ids=str)
def test_one_image_per_device_trains_when_the_top_level_is_1x1(image):
    """The top levels of an FPN are 1x1 for small images: their norms would see one value
    per channel at batch 1 and use their running statistics instead (the one-value rule)."""
    sizes = _after_fpn_sizes(*image)
    m = ASFF(in_channels=8, out_channels=8, num_levels=5).train()
    feats = [torch.randn(1, 8, *s, requires_grad=True) for s in sizes]
    outs = m(feats)
    assert [tuple(o.shape[-2:]) for o in outs] == sizes
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    for f in feats:
        assert torch.isfinite(f.grad).all()
    for key, buf in m.named_buffers():
        assert torch.isfinite(buf.float()).all(), key
    for key, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), key


@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
def test_empty_batch(train):
    m = ASFF(in_channels=[4, 8, 8], out_channels=4).train(train)
    feats = [torch.randn(0, c, *s, requires_grad=True)
             for c, s in zip([4, 8, 8], _sizes((9, 11), 3))]
    outs, weights = m(feats, return_weights=True)
    assert [tuple(o.shape) for o in outs] == [(0, 4, *f.shape[-2:]) for f in feats]
    assert [tuple(w.shape) for w in weights] == [(0, 3, *f.shape[-2:]) for f in feats]
    sum(o.sum() for o in outs).backward()
    assert all(f.grad is None or f.grad.shape == f.shape for f in feats)


@pytest.mark.parametrize('batch', [2, 0])
@pytest.mark.parametrize('level,dims', [(0, 'H'), (2, 'W'), (1, 'HW')])
def test_a_level_without_positions_is_refused(level, dims, batch):
    """H or W = 0 at any level: the shared check's sentence naming ASFF and the level (the
    finest-first rule or a convolution inside torch would speak first otherwise)."""
    m = ASFF(in_channels=[4, 8, 8], out_channels=4)
    feats = [torch.randn(batch, c, *s) for c, s in zip([4, 8, 8], _sizes((9, 11), 3))]
    shape = list(feats[level].shape)
    for letter in dims:
        shape['BCHW'.index(letter)] = 0
    feats[level] = torch.randn(shape)
    with pytest.raises(ValueError) as info:
        m(feats)
    message = str(info.value)
    assert message.startswith(f'ASFF: level {level} of shape {tuple(shape)}'), message
    assert all(f'{letter}=0' in message for letter in dims) and '>= 1' in message, message


@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
def test_meta_device_gives_shapes(train):
    """Moved to or built on the meta device, ASFF gives the CPU's shapes (fusion weights
    too), at batch 2 and 0."""
    feats = [torch.randn(2, c, *s) for c, s in zip([4, 8, 8], _sizes((9, 11), 3))]
    m = ASFF(in_channels=[4, 8, 8], out_channels=4).train(train)
    with torch.device('meta'):
        built = ASFF(in_channels=[4, 8, 8], out_channels=4).train(train)
    for meta in (copy.deepcopy(m).to('meta'), built):
        for batch in (2, 0):
            with torch.no_grad():
                ref_outs, ref_weights = m([f[:batch] for f in feats], return_weights=True)
            outs, weights = meta([f[:batch].to('meta') for f in feats], return_weights=True)
            for a, b in zip(outs + weights, ref_outs + ref_weights):
                assert a.is_meta and a.shape == b.shape and a.dtype == b.dtype


def test_float64_is_computed_in_float64():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Record(TorchDispatchMode):

        def __init__(self):
            super().__init__()
            self.dtypes = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in (out if isinstance(out, (tuple, list)) else [out]):
                if isinstance(t, torch.Tensor) and t.is_floating_point():
                    self.dtypes.add(t.dtype)
            return out

    m = ASFF(in_channels=[4, 8, 8], out_channels=4).double().eval()
    feats = [torch.randn(2, c, *s, dtype=torch.float64)
             for c, s in zip([4, 8, 8], _sizes((9, 11), 3))]
    with torch.no_grad(), Record() as record:
        outs, weights = m(feats, return_weights=True)
    assert record.dtypes == {torch.float64}
    assert all(o.dtype == torch.float64 for o in outs + weights)


@pytest.mark.parametrize('bad', ['int64', 'bool', 'complex64', 'list'])
def test_non_floating_and_non_tensor_levels_raise(bad):
    m = ASFF(in_channels=[4, 8], out_channels=4)
    feats = [torch.randn(1, 4, 6, 6), torch.randn(1, 8, 3, 3)]
    feats[1] = feats[1].tolist() if bad == 'list' else feats[1].to(getattr(torch, bad))
    with pytest.raises(TypeError, match='ASFF: level 1 must be a'):
        m(feats)


def test_levels_must_come_finest_first_with_one_batch_size():
    m = ASFF(in_channels=8, out_channels=8, num_levels=3)
    finest_first = [torch.randn(2, 8, s, s) for s in (12, 6, 3)]
    m(finest_first)
    with pytest.raises(ValueError, match=r'ASFF: levels must be given finest first '
                                         r'\(coarsest_first=False\); level 1 of shape '
                                         r'\(2, 8, 6, 6\) does not follow level 0 .* set '
                                         r'coarsest_first=True'):
        m(finest_first[::-1])
    coarsest = ASFF(in_channels=8, out_channels=8, num_levels=3, coarsest_first=True)
    coarsest(finest_first[::-1])
    with pytest.raises(ValueError, match=r'ASFF: levels must be given coarsest first '
                                         r'\(coarsest_first=True\); level 1'):
        coarsest(finest_first)
    with pytest.raises(ValueError, match=r'ASFF: every level must have the same batch size, '
                                         r'got levels of shapes \[\(2, 8, 12, 12\), \(1, 8'):
        m([finest_first[0], finest_first[1][:1], finest_first[2]])
    # Equal sizes are fine (the top levels of small images are all 1x1).
    m([torch.randn(1, 8, 2, 2), torch.randn(1, 8, 1, 1), torch.randn(1, 8, 1, 1)])


@pytest.mark.parametrize('arg,value,error', [
    ('norm_cfg', 'BN', TypeError),
    ('norm_cfg', dict(type='NoSuchNorm'), ValueError),
    ('norm_cfg', dict(type='LN'), ValueError),
    ('norm_cfg', dict(type='BN1d'), ValueError),
    ('norm_cfg', dict(type='GN', num_groups=3), ValueError),
    ('act_cfg', 'ReLU', TypeError),
    ('act_cfg', dict(type='NoSuchAct'), ValueError),
    ('act_cfg', dict(type='ReLU', slope=2), ValueError),
    ('conv_cfg', 'Conv2d', TypeError),
    ('conv_cfg', dict(type='NoSuchConv'), ValueError),
    ('compress_channels', 2.5, TypeError),
    ('num_levels', '3', TypeError),
])
def test_bad_arguments_name_asff_the_argument_and_the_value(arg, value, error):
    kwargs = dict(in_channels=8, out_channels=8, num_levels=3)
    kwargs[arg] = value
    with pytest.raises(error) as info:
        ASFF(**kwargs)
    message = str(info.value)
    shown = repr(value['type']) if isinstance(value, dict) else repr(value)
    assert 'ASFF' in message and arg in message and shown in message, message


@pytest.mark.parametrize('arg', ['norm_cfg', 'act_cfg', 'conv_cfg'])
def test_none_configs_are_documented_choices(arg):
    m = ASFF(in_channels=8, out_channels=8, num_levels=2, **{arg: None})
    outs = m([torch.randn(1, 8, 4, 4), torch.randn(1, 8, 2, 2)])
    assert all(torch.isfinite(o).all() for o in outs)


def test_trace_and_onnx_at_other_pyramids():
    """Traced and ONNX-exported at one pyramid, run at pyramids of other (odd, 1x1) sizes:
    the resizing to each level's size is always in the graph, never a Python branch."""
    import io
    import warnings

    import numpy as np
    import onnxruntime as ort
    m = _randomize(ASFF(in_channels=[4, 8, 8], out_channels=4)).eval()

    def pyramid(batch, sizes):
        if not isinstance(sizes, list):
            sizes = _sizes(sizes, 3)
        return [torch.randn(batch, c, *s) for c, s in zip([4, 8, 8], sizes)]

    names = [f'level{i}' for i in range(3)]
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(m, (pyramid(2, (16, 20)), ))
        onnx_export(m, (pyramid(2, (16, 20)), ), buf, opset_version=17, input_names=names,
                    dynamic_axes={n: {0: 'B', 2: f'H{i}', 3: f'W{i}'}
                                  for i, n in enumerate(names)})
    session = ort.InferenceSession(buf.getvalue(), providers=['CPUExecutionProvider'])
    # Ceil-made pyramids (strided convs), a floor-made one (pooling: the stride-2 resizers
    # overshoot and are resized) and top levels of equal size.
    for batch, sizes in [(1, (13, 15)), (3, (7, 9)), (1, (2, 1)), (2, (33, 29)),
                         (2, [(7, 9), (3, 4), (1, 2)]), (1, [(2, 2), (1, 1), (1, 1)])]:
        feats = pyramid(batch, sizes)
        with torch.no_grad():
            ref = m(feats)
            for a, b in zip(traced(feats), ref):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        outs = session.run(None, {n: f.numpy() for n, f in zip(names, feats)})
        for a, b in zip(outs, ref):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-4)
