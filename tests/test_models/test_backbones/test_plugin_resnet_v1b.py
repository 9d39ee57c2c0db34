"""PluginResNetV1b: mmseg's plain-stem ResNet (plain-stem ImageNet weights load) with plugins."""
import torch
from mmseg.models.backbones import ResNet as SegResNet

from mmattn import PluginResNetV1b
from .test_plugin_resnet import (CBAM_CFG, TWO_AT_ONE, _assert_same_outputs, _bottleneck_reference,
                                 _randomize_norms)


def test_is_mmsegs_plain_stem_resnet_with_the_same_keys():
    net = PluginResNetV1b(depth=50, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                          contract_dilation=True)
    stock = SegResNet(depth=50, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                      contract_dilation=True)
    assert not net.deep_stem and net.conv1.kernel_size == (7, 7)
    assert list(net.state_dict()) == list(stock.state_dict())
    stock.load_state_dict(net.state_dict())
    net.eval()
    stock.eval()
    x = torch.randn(1, 3, 40, 40)
    _assert_same_outputs(net, stock, x)


def test_applies_every_plugin_in_order():
    net = PluginResNetV1b(depth=50, plugins=TWO_AT_ONE)
    _randomize_norms(net)
    net.eval()
    block = net.layer2[1]
    x = torch.randn(2, 512, 5, 7)
    with torch.no_grad():
        expected = _bottleneck_reference(block, x, after3=lambda t: t * 2.0 + 1.0)
        torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


def test_norm_eval_trains_the_plugin_norms_only():
    net = PluginResNetV1b(depth=50, base_channels=8, norm_eval=True,
                          plugins=[dict(cfg=CBAM_CFG, position='after_conv3')])
    assert net.train() is net
    plugin_bns = [m.cbam.spatial_norm for layer in (net.layer1, net.layer4) for m in layer]
    assert all(m.training for m in plugin_bns)
    assert not net.bn1.training and not net.layer2[0].bn1.training
