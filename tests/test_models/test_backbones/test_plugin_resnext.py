"""PluginResNeXt (mmdet) and SegPluginResNeXt (mmseg): ResNeXt whose blocks take plugins."""
import math

import pytest
import torch
from mmengine.registry import init_default_scope

from mmattn import SE, IdentityInit, PluginResNeXt
from mmattn.models.utils import UnknownTypeError
from ..test_utils.toy_plugins import Scale, Shift, quiet_init
from .test_plugin_resnet import _assert_same_outputs, _bottleneck_reference, _eval, _randomize_norms
from .test_plugin_resnet import \
    test_norm_eval_freezes_the_backbone_norms_and_trains_the_plugin_norms as _norm_rule

# Narrow (16 base channels) ResNeXt-50 4x4d: the same code paths, a fraction of the time.
NARROW = dict(depth=50, groups=4, base_width=4, base_channels=16, stem_channels=16)


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


def test_without_plugins_is_mmdets_resnext():
    from mmdet.models.backbones import ResNeXt
    ref = ResNeXt(**NARROW)
    _randomize_norms(ref)
    _eval(ref)
    ours = PluginResNeXt(**NARROW)
    assert list(ours.state_dict()) == list(ref.state_dict())  # checkpoints load
    ours.load_state_dict(ref.state_dict())
    _eval(ours)
    x = torch.randn(2, 3, 45, 37)
    _assert_same_outputs(ours, ref, x)


def test_plugins_see_the_grouped_width_and_apply_in_order():
    plugins = [dict(cfg=dict(type=Scale, value=3.0, postfix=1), position='after_conv1'),
               dict(cfg=dict(type='SE', reduction=4, postfix=1), position='after_conv2'),
               dict(cfg=dict(type='SE', reduction=4, postfix=2), position='after_conv2'),
               dict(cfg=dict(type=Scale, value=2.0), position='after_conv3'),
               dict(cfg=dict(type=Shift, value=1.0), position='after_conv3')]
    net = PluginResNeXt(**NARROW, plugins=plugins)
    _randomize_norms(net)
    _eval(net)
    for i, layer in enumerate([net.layer1, net.layer2, net.layer3, net.layer4]):
        planes = 16 * 2**i
        width = math.floor(planes * 4 / 16) * 4  # floor(planes * base_width / base) * groups
        block = layer[0]
        assert block.conv2.groups == 4 and block.conv2.out_channels == width
        assert block.scale1.in_channels == width and block.se1.in_channels == width
        assert block.shift.in_channels == planes * 4
    block = net.layer2[1]
    x = torch.randn(2, 128, 7, 5)
    with torch.no_grad():
        expected = _bottleneck_reference(
            block, x, after1=lambda t: t * 3.0, after2=lambda t: block.se2(block.se1(t)),
            after3=lambda t: t * 2.0 + 1.0)
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_identity_init_starts_as_the_plain_resnext(tmp_path):
    from mmdet.models.backbones import ResNeXt
    plain = quiet_init(ResNeXt(**NARROW))
    _randomize_norms(plain)
    path = tmp_path / 'x50.pth'
    torch.save(dict(state_dict=plain.state_dict()), path)
    plugins = [dict(cfg=dict(type='SE', postfix=2), position='after_conv2', identity_init=True),
               dict(cfg=dict(type='CBAM', postfix=3), position='after_conv3',
                    identity_init=True)]
    plugged = quiet_init(PluginResNeXt(**NARROW, plugins=plugins,
                                       init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    assert all(m.scale.item() == 0 for m in plugged.modules() if isinstance(m, IdentityInit))
    _eval(plain)
    _eval(plugged)
    x = torch.randn(1, 3, 40, 48)
    _assert_same_outputs(plugged, plain, x)


def _resnext_classes():
    from mmattn import SegPluginResNeXt
    return [PluginResNeXt, SegPluginResNeXt]


@pytest.mark.parametrize('cls', _resnext_classes())
def test_plugin_norms_train_under_norm_eval_and_train_returns_the_module(cls):
    """PluginResNetMixin's rule, inherited: the backbone's BNs frozen, the plugins' training."""
    _norm_rule(cls)
    net = cls(depth=50, base_channels=8)
    assert net.train() is net and net.eval() is net


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(depth=18), ValueError, r'PluginResNeXt: depth=18 must be one of \[50, 101, 152\]'),
    (dict(depth=50, groups=0), ValueError, r'PluginResNeXt: groups=0 must be >= 1'),
    (dict(depth=50, base_width=2.5), TypeError, r'PluginResNeXt: base_width must be an int'),
    (dict(depth=50, plugins=[dict(cfg=dict(type='SE'), position='after_conv4')]), ValueError,
     r"PluginResNeXt: plugin position 'after_conv4' is not one of \('after_conv1', "
     r"'after_conv2', 'after_conv3'\)"),
    (dict(depth=50, plugins=[dict(cfg=dict(type='SE'), position='after_conv2',
                                  stages=(True, ))]), ValueError,
     r'PluginResNeXt: plugin stages=\(True,\) must have one entry per stage'),
    (dict(depth=50, plugins=[dict(cfg=dict(type='SE'), position='after_conv2'),
                             dict(cfg=dict(type='SE'), position='after_conv3')]), ValueError,
     r"PluginResNeXtBottleneck: a plugin at after_conv3 would be named 'se'"),
    (dict(depth=50, plugins=[dict(cfg=dict(type='SqueezeExcite'), position='after_conv2')]),
     UnknownTypeError, r"PluginResNeXt: plugin type 'SqueezeExcite' is not registered"),
])
def test_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        PluginResNeXt(**kwargs)


def test_mmseg_variant_applies_every_plugin_in_order():
    from mmattn import SegPluginResNeXt
    two = [dict(cfg=dict(type=Scale, value=2.0), position='after_conv3'),
           dict(cfg=dict(type=Shift, value=1.0), position='after_conv3')]
    net = SegPluginResNeXt(**NARROW, plugins=two, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1))
    _randomize_norms(net)
    _eval(net)
    block = net.layer3[1]
    x = torch.randn(2, block.conv1.in_channels, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(
            block(x), _bottleneck_reference(block, x, after3=lambda t: t * 2.0 + 1.0),
            rtol=1e-5, atol=1e-5)
    # mmseg's dilations are kept.
    assert SegPluginResNeXt(**NARROW, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1)) \
        .layer4[0].conv2.dilation == (4, 4)


def test_builds_from_mmdet_x101_config_by_type():
    from mmdet.registry import MODELS

    from ..test_utils.toy_plugins import mim_config
    cfg = mim_config('mmdet', 'retinanet/retinanet_x101-32x4d_fpn_1x_coco.py').model.backbone
    cfg.update(type='PluginResNeXt', init_cfg=None, depth=50, base_channels=16,
               plugins=[dict(cfg=dict(type='SE'), position='after_conv3',
                             stages=(False, True, True, True))])
    net = MODELS.build(cfg)
    assert isinstance(net, PluginResNeXt) and net.groups == 32 and net.base_width == 4
    assert sum(isinstance(m, SE) for m in net.modules()) == 13
