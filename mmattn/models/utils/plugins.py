"""Building plugin modules for mmattn's insertion points: ResNet blocks, backbone outputs, necks."""
from collections import OrderedDict
from typing import List, Sequence, Tuple, Union

import torch.nn as nn
from mmcv.cnn import build_plugin_layer
from mmcv.cnn.bricks.plugin import infer_abbr

from .identity_init import IdentityInit
from .lookup import lookup_type


def build_plugin(cfg: dict,
                 in_channels: int,
                 identity_init: bool = False,
                 owner: str = 'mmattn') -> Tuple[str, nn.Module]:
    """Build a plugin layer as mmcv's ``build_plugin_layer`` does; its name and module.

    The name is the class's ``_abbr_`` plus the cfg's ``postfix`` (mmdet's
    rule). With ``identity_init=True`` the module is wrapped in
    :class:`IdentityInit`; the name stays the wrapped module's, also when the
    cfg itself is ``dict(type='IdentityInit', module=...)``. A type no registry
    knows raises :class:`~mmattn.models.utils.lookup.UnknownTypeError` naming
    ``owner``, the type and the closest registered names.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f'{owner}: a plugin cfg must be a dict, got {type(cfg).__name__}')
    if not isinstance(identity_init, bool):
        raise TypeError(f'{owner}: identity_init must be True or False, got {identity_init!r}')
    lookup_type(owner, cfg, 'plugin')
    cfg = dict(cfg)
    postfix = cfg.pop('postfix', '')
    name, module = build_plugin_layer(cfg, postfix=postfix, in_channels=in_channels)
    if isinstance(module, IdentityInit):
        name = infer_abbr(type(module.module)) + str(postfix)
    elif identity_init:
        module = IdentityInit(in_channels=in_channels, module=module)
    return name, module


def as_cfg_list(owner: str, name: str, cfgs: Union[dict, Sequence[dict]]) -> List[dict]:
    """``cfgs`` as a non-empty list of config dicts (one dict is a list of one)."""
    if isinstance(cfgs, dict):
        cfgs = [cfgs]
    if not isinstance(cfgs, (list, tuple)) or not cfgs or \
            not all(isinstance(c, dict) for c in cfgs):
        raise TypeError(f'{owner}: {name} must be a config dict or a non-empty list of them, '
                        f'got {cfgs!r}')
    return list(cfgs)


def build_plugin_sequence(owner: str, cfgs: Sequence[dict], in_channels: int,
                          identity_init: bool = False) -> nn.Sequential:
    """The plugins of ``cfgs`` applied in order, named as in a ResNet block (``se``, ``se2``).

    Raises:
        ValueError: two plugins would get the same name (same type, no
            distinct ``postfix``).
    """
    layers = OrderedDict()
    for cfg in cfgs:
        name, layer = build_plugin(cfg, in_channels, identity_init=identity_init, owner=owner)
        if name in layers:
            raise ValueError(
                f'{owner}: two modules would be named {name!r}: give one a distinct '
                f'postfix in its cfg, e.g. dict(type={cfg["type"]!r}, postfix=2)')
        layers[name] = layer
    return nn.Sequential(layers)


def as_plugin_list(owner: str, plugins) -> list:
    """A ResNet's ``plugins`` as a list; the dict ``--cfg-options`` makes is read as one.

    ``--cfg-options model.backbone.plugins.0.cfg.type=SE`` on a config whose
    backbone has no ``plugins`` list gives ``plugins={'0': dict(cfg=...)}``
    (mmengine's ``DictAction`` turns every dotted part into a dict key): keys
    ``'0'``, ``'1'``, ... without gaps are the list's entries in order.

    Raises:
        TypeError: ``plugins`` is neither a list nor such a dict.
        ValueError: the dict's keys are numbers with a gap.
    """
    if plugins is None:
        return []
    if isinstance(plugins, (list, tuple)):
        return list(plugins)
    if isinstance(plugins, dict) and plugins and all(
            isinstance(k, str) and k.isdigit() for k in plugins):
        indices = sorted(int(k) for k in plugins)
        if indices != list(range(len(indices))):
            raise ValueError(
                f'{owner}: plugins has the entries {indices} (from --cfg-options '
                'model.backbone.plugins.N...=...): number them 0, 1, ... without gaps')
        return [plugins[str(i)] for i in indices]
    raise TypeError(
        f'{owner}: plugins must be a list of dicts, got {type(plugins).__name__} '
        f'{plugins!r}; write plugins=[dict(cfg=dict(type=...), position=...)], or on the '
        'command line --cfg-options model.backbone.plugins.0.cfg.type=SE '
        'model.backbone.plugins.0.position=after_conv3, or --attention SE')
