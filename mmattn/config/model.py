"""A model config's attention: what it is, and the same config without it.

``--attention`` replaces a base's attention with the specs (:mod:`mmattn.config.derive`),
the benchmark measures a config with and without it (``mmattn.analysis``), and both take
it out the same way: :func:`strip_attention`.
"""
import copy
from typing import Any, List, Optional, Tuple

#: Config types that wrap a backbone or neck to add attention; stripping keeps
#: the wrapped one. Matched on the last dotted part of ``type``.
WRAPPER_TYPES = ('AttentionBackbone', 'AttentionNeck')
#: Necks that are attention themselves; stripping drops them from a neck list.
ATTENTION_NECKS = ('ASFF', )
_INNER_KEYS = ('backbone', 'neck', 'inner', 'module', 'wrapped', 'base')


def _type_name(cfg: Any) -> str:
    t = cfg.get('type', '') if isinstance(cfg, dict) else ''
    return (t if isinstance(t, str) else getattr(t, '__name__', str(t))).split('.')[-1]


def _unwrap(cfg: dict, removed: List[str]) -> Optional[dict]:
    """The config a wrapper wraps (recursively), ``cfg`` itself if it is no
    wrapper, or None for a wrapper of nothing (``AttentionNeck(neck=None)``)."""
    while _type_name(cfg) in WRAPPER_TYPES:
        removed.append(_type_name(cfg))
        inner = next((cfg[k] for k in _INNER_KEYS if isinstance(cfg.get(k), dict)), None)
        if inner is None:
            return None
        cfg = inner
    return cfg


def strip_attention(model_cfg: dict) -> Tuple[dict, List[str]]:
    """A copy of ``model_cfg`` without its attention, and what was removed.

    Backbone: ``AttentionBackbone`` wrappers give way to the backbone they wrap;
    ``plugins`` are removed. Neck: ``AttentionNeck`` wrappers give way to the
    wrapped neck (one without a neck is dropped), ``ASFF`` entries leave a
    neck list; a neck that was only attention becomes None.
    """
    cfg = copy.deepcopy(model_cfg)
    removed: List[str] = []
    if isinstance(cfg.get('backbone'), dict):
        backbone = _unwrap(cfg['backbone'], removed)
        if backbone is None:
            raise ValueError(f"attention modules: no backbone inside {cfg['backbone']}")
        if backbone.get('plugins'):
            plugins = backbone['plugins']
            if isinstance(plugins, dict):  # --cfg-options' dict keyed '0', '1', ...
                plugins = list(plugins.values())
            if not isinstance(plugins, (list, tuple)) or not all(
                    isinstance(p, dict) for p in plugins):
                raise ValueError(f'attention modules: model.backbone.plugins must be a list of '
                                 f'dicts (dict(cfg=dict(type=...), position=...)), got '
                                 f'{backbone["plugins"]!r}')
            removed += [_type_name(p.get('cfg', p)) + ' plugin' for p in plugins]
            backbone['plugins'] = None
        cfg['backbone'] = backbone
    neck = cfg.get('neck')
    if isinstance(neck, dict):
        cfg['neck'] = _unwrap(neck, removed)
    elif isinstance(neck, (list, tuple)):
        kept = []
        for item in neck:
            if _type_name(item) in ATTENTION_NECKS:
                removed.append(_type_name(item))
                continue
            item = _unwrap(item, removed) if isinstance(item, dict) else item
            if item is not None:
                kept.append(item)
        cfg['neck'] = (kept[0] if len(kept) == 1 else kept) if kept else None
    return cfg, removed


def starts_as_identity(model_cfg: dict) -> bool:
    """Whether the model config has attention and all of it starts as the identity
    (``identity_init=True`` on every plugin and wrapper of the backbone and neck): the
    zoo's configs. ``--attention`` on such a base starts its modules the same way."""
    flags = []

    def visit(node):
        if isinstance(node, dict):
            if _type_name(node) in WRAPPER_TYPES:
                flags.append(bool(node.get('identity_init', False)))
            for plugin in node.get('plugins') or []:
                if isinstance(plugin, dict):
                    flags.append(bool(plugin.get('identity_init', False)))
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)

    visit([model_cfg.get('backbone'), model_cfg.get('neck')])
    return bool(flags) and all(flags)


def no_pretrained(model_cfg: dict) -> None:
    """Drop what would download or read a checkpoint (``init_cfg`` of the backbone and of
    what it wraps, mmseg's model-level ``pretrained``), in place: for builds that only
    need the network's structure (probes, benchmarks, tests)."""
    if 'pretrained' in model_cfg:  # mmseg: a checkpoint name at the model level
        model_cfg['pretrained'] = None
    stack = [model_cfg.get('backbone')]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if 'init_cfg' in item:
                item['init_cfg'] = None
            stack += [v for k, v in item.items() if k in _INNER_KEYS]


__all__ = ['WRAPPER_TYPES', 'ATTENTION_NECKS', 'strip_attention', 'starts_as_identity',
           'no_pretrained']
