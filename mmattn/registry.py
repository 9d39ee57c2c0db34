"""Where mmattn's modules are registered.

Every module registers into mmengine's root ``MODELS`` (``ROOT_MODELS`` here),
the ancestor of mmcv's, mmdet's, mmseg's and mmpretrain's model registries. A
lookup that misses in a downstream registry walks up to the root, so after
``custom_imports=dict(imports=['mmattn'])`` a bare ``type='SE'`` resolves in
mmdet and mmseg configs, and inside mmcv's ``build_plugin_layer``.

``MODELS`` is mmattn's own node in the registry tree, with scope ``mmattn`` and
no entries of its own: it lets ``type='mmattn.SE'`` resolve (mmengine finds the
scope among the root's children, then falls back to the root), and importing
it is enough, because its ``locations`` import the modules on first lookup.
"""
from typing import Dict

from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=ROOT_MODELS, scope='mmattn', locations=['mmattn.models'])

_ATTENTION_PACKAGE = 'mmattn.models.attentions.'


def list_attention_modules(layout: str = 'BCHW') -> Dict[str, type]:
    """The attention modules mmattn registers, by type name, for one input layout.

    A module's layout is its class attribute ``_layout_``: ``'BCHW'`` (the
    default: a 2D module that keeps the contract of MODULES.md and can be a
    plugin) or another string for sequence forms (``'BNC'``, ``'BCNT'``).
    The list is read from the registry, so a module added later is found by
    every sweep over it (contract tests, benchmarks) without upkeep.
    """
    import mmattn.models  # noqa: F401  (registers everything)
    return {
        name: cls
        for name, cls in sorted(ROOT_MODELS.module_dict.items())
        if cls.__module__.startswith(_ATTENTION_PACKAGE)
        and getattr(cls, '_layout_', 'BCHW') == layout
    }


__all__ = ['MODELS', 'ROOT_MODELS', 'list_attention_modules']
