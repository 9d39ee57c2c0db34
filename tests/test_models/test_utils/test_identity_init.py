"""IdentityInit: x + s * (m(x) - x) with s = 0 at init, kept through every init path."""
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmengine.registry import init_default_scope

from mmattn import SE, IdentityInit
from mmattn.models.utils.plugins import build_plugin, build_plugin_sequence
from tests.conftest import skip_unless
from .toy_plugins import Scale, Shift, quiet_init


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


@pytest.mark.parametrize('batch', [1, 3])
@pytest.mark.parametrize('hw', [(1, 1), (3, 5), (7, 9)])
def test_identity_at_init_exactly(batch, hw):
    m = IdentityInit(in_channels=8, module=dict(type='SE', reduction=2))
    assert isinstance(m.module, SE) and m.module.in_channels == 8
    assert m.scale.shape == () and m.scale.item() == 0.0
    x = torch.randn(batch, 8, *hw)
    assert torch.equal(m(x), x)


@pytest.mark.parametrize('s', [1.0, 0.3, -2.0])
def test_formula_against_float64_reference(s):
    m = IdentityInit(module=Shift(4, value=0.5)).double()
    with torch.no_grad():
        m.scale.fill_(s)
    x = torch.randn(3, 4, 7, 9, dtype=torch.float64)
    expected = x + s * ((x + 0.5) - x)
    torch.testing.assert_close(m(x), expected, rtol=0, atol=1e-12)


def test_scale_one_is_the_module():
    se = SE(6, reduction=2)
    m = IdentityInit(module=se)
    with torch.no_grad():
        m.scale.fill_(1.0)
    x = torch.randn(2, 6, 3, 5)
    torch.testing.assert_close(m(x), se(x))


def test_zero_survives_init_weights_under_parent_init_cfg():
    class Parent(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=[
                dict(type='Kaiming', layer='Conv2d'),
                dict(type='Constant', val=3.0, layer=['_BatchNorm'])])
            self.wrapped = IdentityInit(in_channels=8, module=dict(type='SE', reduction=2))

    parent = Parent()
    with torch.no_grad():
        parent.wrapped.scale.fill_(5.0)  # as if something had moved it before init
    quiet_init(parent)
    assert parent.wrapped.scale.item() == 0.0
    x = torch.randn(2, 8, 3, 5)
    assert torch.equal(parent.wrapped(x), x)


def test_gradients_reach_the_scale_and_then_the_module():
    m = IdentityInit(in_channels=4, module=dict(type='SE', reduction=2))
    x = torch.randn(2, 4, 5, 5)
    m(x).square().sum().backward()
    assert m.scale.grad is not None and m.scale.grad.abs() > 0
    # At s = 0 the module's own parameters are multiplied by zero.
    assert m.module.fc1.weight.grad.abs().max() == 0
    with torch.no_grad():
        m.scale.fill_(0.5)
    m.zero_grad()
    m(x).square().sum().backward()
    assert m.module.fc1.weight.grad.abs().max() > 0


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_keeps_input_dtype(dtype):
    if dtype == torch.float16:
        skip_unless('cpu float16')
    m = IdentityInit(module=Shift(4)).to(dtype)
    x = torch.randn(2, 4, 3, 3).to(dtype)
    assert m(x).dtype == dtype
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = IdentityInit(module=nn.Conv2d(4, 4, 1))(torch.randn(2, 4, 3, 3).bfloat16())
    assert y.dtype == torch.bfloat16


def test_traces():
    m = IdentityInit(in_channels=4, module=dict(type='SE', reduction=2)).eval()
    with torch.no_grad():
        m.scale.fill_(0.7)
    x = torch.randn(2, 4, 5, 6)
    traced = torch.jit.trace(m, x)
    torch.testing.assert_close(traced(x), m(x))


def test_errors():
    with pytest.raises(TypeError, match='IdentityInit: module must be'):
        IdentityInit(in_channels=4)
    with pytest.raises(ValueError, match='IdentityInit: module in_channels=8 differs'):
        IdentityInit(in_channels=4, module=dict(type='SE', in_channels=8))
    with pytest.raises(TypeError, match='identity_init must be True or False'):
        build_plugin(dict(type='SE'), 4, identity_init='yes')


@pytest.mark.parametrize('module, got', [
    (nn.Conv2d(4, 8, 1), r'\(2, 8, 5, 5\)'),  # more channels: would fail inside torch
    (nn.AdaptiveAvgPool2d(1), r'\(2, 4, 1, 1\)'),  # a gate: would broadcast silently
    (nn.Flatten(), r'\(2, 100\)'),
])
def test_a_module_that_changes_the_shape_is_refused(module, got):
    m = IdentityInit(module=module)
    with pytest.raises(ValueError, match=rf'IdentityInit: the wrapped {type(module).__name__} '
                                         rf"must return a tensor of its input's shape "
                                         rf'\(2, 4, 5, 5\) .* got {got}'):
        m(torch.randn(2, 4, 5, 5))


def test_build_plugin_keeps_the_wrapped_name():
    name, m = build_plugin(dict(type='SE', postfix=2), 8, identity_init=True)
    assert name == 'se2' and isinstance(m, IdentityInit) and m.module.in_channels == 8
    name, m = build_plugin(dict(type='IdentityInit', module=dict(type='SE'), postfix='_a'), 8)
    assert name == 'se_a' and isinstance(m, IdentityInit)
    name, m = build_plugin(dict(type=Scale), 8)
    assert name == 'scale' and isinstance(m, Scale)


def test_build_plugin_sequence_orders_and_refuses_clashing_names():
    seq = build_plugin_sequence('T', [dict(type=Scale), dict(type=Shift)], 3)
    assert list(dict(seq.named_children())) == ['scale', 'shift']
    x = torch.randn(1, 3, 2, 2)
    torch.testing.assert_close(seq(x), x * 2 + 1)
    with pytest.raises(ValueError, match="T: two modules would be named 'scale'"):
        build_plugin_sequence('T', [dict(type=Scale), dict(type=Scale)], 3)


def test_as_a_plugin_of_mmdet_stock_resnet_starts_as_the_plain_resnet():
    from mmdet.models.backbones import ResNet

    # mmdet's ResNet.train() returns None: no chained .eval().
    plain = quiet_init(ResNet(depth=50, out_indices=(3, )))
    plain.eval()
    wrapped = ResNet(depth=50, out_indices=(3, ), plugins=[
        dict(cfg=dict(type='IdentityInit', module=dict(type='SE')), position='after_conv3',
             stages=(False, False, True, True))])
    quiet_init(wrapped)
    wrapped.eval()
    assert isinstance(wrapped.layer3[0].identity_init, IdentityInit)
    missing, unexpected = wrapped.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all('.identity_init.' in k for k in missing)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(wrapped(x)[0], plain(x)[0])
