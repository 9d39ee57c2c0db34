from importlib.util import find_spec

from .attention_backbone import AttentionBackbone
from .plugin_resnet import PluginResNet

__all__ = ['AttentionBackbone', 'PluginResNet']

# mmseg is an optional extra (`pip install mmattn[seg]`): its variants register when it is there.
if find_spec('mmseg') is not None:
    from .plugin_resnet_seg import PluginResNetV1b, PluginResNetV1c, PluginResNetV1d  # noqa: F401
    __all__ += ['PluginResNetV1b', 'PluginResNetV1c', 'PluginResNetV1d']
