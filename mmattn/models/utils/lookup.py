"""Type lookups that fail with a sentence: the type asked for, the closest names, the fix.

A config's ``type`` that no registry knows reaches the user, through mmcv's
``build_plugin_layer`` or ``build_norm_layer``, as ``KeyError: 'Cannot find None
in registry under scope name mmdet'`` (they format the failed lookup's result,
not the name). mmattn's builders (ResNet plugins, ``AttentionBackbone``,
``AttentionNeck``, ``IdentityInit``, ``ASFF``'s layer configs) look the type up
first with :func:`lookup_type`, which resolves exactly as the build will (the
cfg's ``_scope_``, else the default scope's registry, then its ancestors up to
mmengine's root ``MODELS``) and, on a miss, names the closest registered names
and how mmattn's modules become visible.
"""
import difflib
from typing import Any, Iterable, List, Optional

from mmengine.registry import Registry

from mmattn.registry import ROOT_MODELS

__all__ = ['UnknownTypeError', 'lookup_type', 'build_module', 'close_names']


class UnknownTypeError(ValueError, KeyError):
    """A config names a type that no registry in reach knows.

    A ``ValueError`` (a user error, as the house style wants) and a ``KeyError``
    (what mmengine's and mmcv's failed lookups raise, so code catching that still
    catches this). Printed as the plain sentence, without ``KeyError``'s quotes.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


def _chain(registry: Registry) -> List[Registry]:
    chain = []
    while registry is not None:
        chain.append(registry)
        registry = registry.parent
    return chain


def close_names(name: str, candidates: Iterable[str], n: int = 3) -> List[str]:
    """Up to ``n`` of ``candidates`` closest to ``name`` (case folded), best first."""
    by_lower = {}
    for c in sorted(set(candidates)):
        by_lower.setdefault(c.lower(), c)
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[m] for m in matches]


def _resolve(registry: Registry, type_name: str):
    try:
        return registry.get(type_name)
    except Exception:  # mmengine's fallback import of a dotted path may raise
        return None


def lookup_type(owner: str, cfg: Any, what: str = 'module',
                registry: Registry = ROOT_MODELS) -> Any:
    """The class ``cfg['type']`` names, found as ``registry.build(cfg)`` would find it.

    A ``type`` that is already a class (or any callable) is returned as is.

    Args:
        owner (str): Who builds, for the message (``'PluginResNet'``).
        cfg (dict): The config; its ``type`` (and ``_scope_``, if any) are read.
        what (str): What the config is, for the message (``'plugin'``, ``'neck'``).
        registry (Registry): The registry the build uses. Default: mmengine's root
            ``MODELS``, whose lookups go through the default scope's registry.

    Raises:
        TypeError: ``cfg`` is not a dict, or its ``type`` is neither a str nor a class.
        UnknownTypeError: no registry in reach knows the type.
    """
    if not isinstance(cfg, dict):
        raise TypeError(f'{owner}: the {what} config must be a dict with a type, got '
                        f'{cfg!r} of type {type(cfg).__name__}')
    if 'type' not in cfg:
        raise UnknownTypeError(f'{owner}: the {what} config {dict(cfg)!r} has no type; '
                               "give one, e.g. dict(type='SE')")
    type_name = cfg['type']
    if not isinstance(type_name, str):
        if callable(type_name):
            return type_name
        raise TypeError(f'{owner}: the {what} type must be a registered name or a class, '
                        f'got {type_name!r} of type {type(type_name).__name__}')
    with registry.switch_scope_and_registry(cfg.get('_scope_')) as scoped:
        found = _resolve(scoped, type_name)
        if found is not None:
            return found
        chain = _chain(scoped)
    prefix, _, bare = type_name.rpartition('.')
    registered = {}
    for reg in reversed(chain):  # the scope's own entries win, as in a lookup
        registered.update(reg.module_dict)
    near = close_names(bare, registered)
    close = [f'{prefix}.{c}' if prefix else c for c in near]
    where = '/'.join(r.scope for r in chain)
    closest = ('closest registered names: ' + ', '.join(map(repr, close)) if close
               else 'no registered name is close')
    ours = [c for c in near if getattr(registered[c], '__module__', '').startswith('mmattn.')]
    example = ours[0] if ours else 'SE'
    raise UnknownTypeError(
        f'{owner}: {what} type {type_name!r} is not registered (looked up in the {where} '
        f'{scoped.name} registries); {closest}. mmattn\'s modules resolve once mmattn is '
        "imported: add custom_imports = dict(imports=['mmattn'], allow_failed_imports=False) "
        f"to the config, or prefix them with mmattn. (type='mmattn.{example}'); a type of "
        'another package needs that package in custom_imports the same way.')


def build_module(owner: str, cfg: dict, what: str = 'module',
                 registry: Registry = ROOT_MODELS, default_args: Optional[dict] = None):
    """``registry.build(cfg, default_args)`` after :func:`lookup_type` has found the type."""
    lookup_type(owner, cfg, what, registry)
    return registry.build(cfg, default_args=default_args)
