from importlib.util import find_spec

from .attention_backbone import AttentionBackbone
from .plugin_resnet import PluginResNet
from .plugin_resnext import PluginResNeXt

__all__ = ['AttentionBackbone', 'PluginResNet', 'PluginResNeXt']

# mmseg is an optional extra (`pip install mmattn[seg]`): its variants register when it is there.
if find_spec('mmseg') is not None:
    from . import plugin_resnet_seg as _seg
    PluginResNetV1b, PluginResNetV1c = _seg.PluginResNetV1b, _seg.PluginResNetV1c
    PluginResNetV1d, SegPluginResNeXt = _seg.PluginResNetV1d, _seg.SegPluginResNeXt
    __all__ += ['PluginResNetV1b', 'PluginResNetV1c', 'PluginResNetV1d', 'SegPluginResNeXt']
