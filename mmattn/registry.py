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
That lazy import (mmengine's ``Registry.import_from_location``) is the one
import in mmattn that runs up the package's floors, from this bottom file to
``mmattn.models``: it is how mmengine resolves ``mmattn.X`` from a config of
another package without that config importing mmattn, and it is mmengine's
code, run only on a lookup of the ``mmattn`` scope.

The modules are listed by class, not by this file:
:func:`mmattn.models.attentions.list_attention_modules`.
"""
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import Registry

MODELS = Registry(
    'model', parent=ROOT_MODELS, scope='mmattn', locations=['mmattn.models'])

__all__ = ['MODELS', 'ROOT_MODELS']
