from importlib.util import find_spec

from .attention_backbone import AttentionBackbone
from .plugin_resnet import PluginResNet
from .plugin_resnext import PluginResNeXt

__all__ = ['AttentionBackbone', 'PluginResNet', 'PluginResNeXt']

# mmseg is an optional extra (`pip install mmattn[seg]`): its variants register when it is there.
if find_spec('mmseg') is not None:
    from .plugin_resnet_seg import (PluginResNetV1c, PluginResNetV1d,  # noqa: F401
                                    SegPluginResNet, SegPluginResNeXt)
    __all__ += ['PluginResNetV1c', 'PluginResNetV1d', 'SegPluginResNet', 'SegPluginResNeXt']
