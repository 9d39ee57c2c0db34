"""Checks and reference pieces shared by the attention module tests.

Plain functions (the file name does not start with ``test_``, so pytest does not collect it).
The naive references of each module stay in its own test file; only the generic building
blocks they use (BN in eval mode, a grouped 'same' convolution) live here.
"""
import copy
import io
import warnings

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.compat import onnx_export
from tests.conftest import cpu_half_dtypes

NORM_LAYERS = (_BatchNorm, nn.GroupNorm, nn.LayerNorm)


def randomize(module, std=0.5, norm_weight_mean=0.0, norm_weight_std=None, bn_mean_std=0.5,
              bn_var_range=(0.5, 2.0)):
    """Non-trivial values everywhere, so that a dropped term or a wrong statistic shows.

    Every parameter is drawn from N(0, std); the weights of BN/GN/LN layers from
    N(norm_weight_mean, norm_weight_std or std); BN running means from N(0, bn_mean_std) and
    running variances from U(bn_var_range). Leaves the train/eval mode as it was; returns
    ``module``.
    """
    norm_std = std if norm_weight_std is None else norm_weight_std
    with torch.no_grad():
        # All parameters first (in module.parameters() order), then the BN statistics.
        for m in module.modules():
            is_norm = isinstance(m, NORM_LAYERS)
            for name, p in m.named_parameters(recurse=False):
                if is_norm and name == 'weight':
                    p.normal_(norm_weight_mean, norm_std)
                else:
                    p.normal_(0, std)
        for m in module.modules():
            if isinstance(m, _BatchNorm) and m.running_mean is not None:
                m.running_mean.normal_(0, bn_mean_std)
                m.running_var.uniform_(*bn_var_range)
    return module


def naive_bn(z, bn):
    """Eval-mode batch norm of ``z`` (B, C, ...) from ``bn``'s running statistics, float64."""
    shape = (1, -1) + (1, ) * (z.dim() - 2)
    return ((z - bn.running_mean.double().view(shape))
            / torch.sqrt(bn.running_var.double().view(shape) + bn.eps)
            * bn.weight.double().view(shape) + bn.bias.double().view(shape))


def naive_grouped_conv(x, weight, groups=1, dilation=1):
    """Stride 1, zero 'same' padding, odd square kernel, no bias, in float64: a sum over kernel
    offsets, group by group."""
    B, C, H, W = x.shape
    O, Cg, K, _ = weight.shape
    p = dilation * (K // 2)
    xp = torch.zeros(B, C, H + 2 * p, W + 2 * p, dtype=torch.double)
    xp[:, :, p:p + H, p:p + W] = x
    out = torch.zeros(B, O, H, W, dtype=torch.double)
    og = O // groups
    for g in range(groups):
        for dy in range(K):
            for dx in range(K):
                i, j = dy * dilation, dx * dilation
                out[:, g * og:(g + 1) * og] += torch.einsum(
                    'oc,bchw->bohw', weight[g * og:(g + 1) * og, :, dy, dx].double(),
                    xp[:, g * Cg:(g + 1) * Cg, i:i + H, j:j + W])
    return out


def check_batch_independent_and_backward(module, x, channels_last=False):
    """In eval mode, sample 0's output does not change when the other samples of ``x`` do
    (and, with ``channels_last``, a channels_last copy of ``x`` gives the same output); then
    in train mode a loss backpropagates finite gradients to ``x`` and to every parameter.
    Leaves ``module`` in train mode."""
    module.eval()
    y = module(x)
    x2 = x.clone()
    x2[1:] = torch.randn_like(x2[1:]) * 10
    torch.testing.assert_close(module(x2)[0], y[0])
    if channels_last:
        torch.testing.assert_close(module(x.contiguous(memory_format=torch.channels_last)), y)
    x = x.clone().requires_grad_(True)
    module.train()
    module(x).square().sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def check_layouts_dtypes_and_trace(module, x):
    """In eval mode and without grad: a channels_last input gives the same output; a module
    traced at ``x`` agrees with eager at batch size 3; in fp16 and bf16 inputs of 1e3 give
    finite outputs of that dtype and unit-scale inputs agree with fp32 to 0.05. Leaves
    ``module`` in fp32."""
    module.eval()
    with torch.no_grad():
        y = module(x)
        torch.testing.assert_close(module(x.to(memory_format=torch.channels_last)), y)
        traced = torch.jit.trace(module, x)
        x3 = torch.randn(3, *x.shape[1:])
        torch.testing.assert_close(traced(x3), module(x3))
        for dtype in cpu_half_dtypes():
            big = module.to(dtype)(x.to(dtype) * 1e3)
            assert big.dtype == dtype and torch.isfinite(big).all()
            torch.testing.assert_close(module(x.to(dtype)).float(), y, rtol=0.05, atol=0.05)
        module.float()


def check_trace_and_onnx(module, x, x2=None):
    """torch.jit.trace and ONNX (opset 17, TorchScript exporter, dynamic batch, height and
    width) agree with eager: the traced module at ``x`` (default tolerances) and at ``x2``,
    ONNX Runtime at both. ``x2`` defaults to another batch size and spatial size."""
    ort = pytest.importorskip('onnxruntime')
    module.eval()
    if x2 is None:
        x2 = torch.randn(x.shape[0] + 1, x.shape[1], x.shape[2] + 2, x.shape[3] + 1)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(module, x)
        torch.testing.assert_close(traced(x), module(x))
        torch.testing.assert_close(traced(x2), module(x2), rtol=1e-4, atol=1e-5)
        buf = io.BytesIO()
        onnx_export(module, (x, ), buf, opset_version=17, input_names=['x'], output_names=['y'],
                    dynamic_axes={'x': {0: 'b', 2: 'h', 3: 'w'}})
    session = ort.InferenceSession(buf.getvalue())
    for inp in (x, x2):
        (out, ) = session.run(None, {'x': inp.numpy()})
        with torch.no_grad():
            torch.testing.assert_close(torch.from_numpy(out), module(inp), rtol=1e-4,
                                       atol=1e-4)


def resnet50_with_plugin(module_cls, position, batch_size=1):
    """An mmdet ResNet-50 with ``module_cls`` (default cfg) at ``position`` of every
    bottleneck of stages 2 and 4: checks there are 4 + 3 of them, runs a 37x45 input forward
    (stage-4 output 2x2) and backward, and checks the input gradient is finite. Returns the
    backbone, for the caller's checks on its plugins' gradients."""
    from mmdet.models.backbones import ResNet
    backbone = ResNet(depth=50, out_indices=(3, ), plugins=[
        dict(cfg=dict(type=module_cls.__name__), stages=(False, True, False, True),
             position=position)
    ])
    assert sum(isinstance(m, module_cls) for m in backbone.modules()) == 4 + 3
    x = torch.randn(batch_size, 3, 37, 45, requires_grad=True)
    (out, ) = backbone(x)
    assert out.shape == (batch_size, 2048, 2, 2)
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    return backbone


def assert_finite_grads(*params):
    """Each parameter has a gradient and it is finite."""
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all()


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


def check_same_as_baseline(module, baseline, x, out_tol=(1e-5, 1e-5), input_grad_tol=(1e-4, 1e-5),
                           param_grad_tol=(1e-4, 1e-5)):
    """``module`` and ``baseline`` (the same weights, the same mode) give the same output on
    ``x``, and the same gradients of one random projection of it for the input and for each
    parameter (paired in order). Each tolerance is (rtol, atol)."""
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ya, yb = module(xa), baseline(xb)
    torch.testing.assert_close(ya, yb, rtol=out_tol[0], atol=out_tol[1])
    g = torch.randn_like(ya)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=input_grad_tol[0], atol=input_grad_tol[1])
    for (name, pa), pb in zip(module.named_parameters(), baseline.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=param_grad_tol[0],
                                   atol=param_grad_tol[1], msg=name)


def check_low_precision_copy(module, dtype, shape, tol):
    """A ``dtype`` copy of ``module`` (eval, no grad): on inputs of ~1e3 the fp32 module and
    the copy give finite outputs (the copy's of ``dtype``); on unit-scale inputs the copy
    agrees with fp32 to rtol = atol = ``tol``."""
    low = copy.deepcopy(module).to(dtype)
    x = (torch.randn(shape) * 1e3).to(dtype)
    with torch.no_grad():
        assert torch.isfinite(module(x.float())).all()
        y = low(x)
    assert y.dtype == dtype and torch.isfinite(y).all()
    x = torch.randn(shape).to(dtype)
    with torch.no_grad():
        torch.testing.assert_close(low(x).float(), module(x.float()), rtol=tol, atol=tol)
