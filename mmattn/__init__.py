"""mmattn: attention modules for OpenMMLab detectors and segmentors.

Importing mmattn registers every module in mmengine's root ``MODELS`` registry,
so configs of mmdet and mmseg can name them by type (see ``mmattn.registry``).
"""
from .compat import apply_compat
from .models import *  # noqa: F401,F403
from .models import __all__ as _models_all
from .registry import MODELS, ROOT_MODELS, list_attention_modules  # noqa: F401
from .version import __version__, version_info  # noqa: F401

# torch >= 2.6 refuses mmengine's checkpoints under weights_only=True; see mmattn.compat.
apply_compat()

__all__ = ['__version__', 'version_info', 'MODELS', 'ROOT_MODELS', 'list_attention_modules'
           ] + list(_models_all)
