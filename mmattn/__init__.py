"""mmattn: attention modules for OpenMMLab detectors and segmentors.

Importing mmattn registers every module in mmengine's root ``MODELS`` registry,
so configs of mmdet and mmseg can name them by type (see ``mmattn.registry``).
"""
from .compat import apply_compat, check_stack

# An unsupported torch, or a numpy it cannot use: one sentence now, not an error in a forward.
check_stack()

from .models import *  # noqa: F401,F403,E402
from .models import __all__ as _models_all  # noqa: E402
from .registry import MODELS, ROOT_MODELS  # noqa: F401,E402
from .version import __version__, version_info  # noqa: F401,E402

# What the import changes outside mmattn, and why: mmattn.compat.
apply_compat()

__all__ = ['__version__', 'version_info', 'MODELS', 'ROOT_MODELS', 'list_attention_modules'
           ] + list(_models_all)
