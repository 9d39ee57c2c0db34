"""mmattn: attention modules for OpenMMLab detectors and segmentors.

``import mmattn`` (what a config's ``custom_imports=dict(imports=['mmattn'])`` does)
registers everything a config can name: every module, backbone and neck in mmengine's
root ``MODELS`` (see :mod:`mmattn.registry`), and the hooks, the optim wrapper and the CPU
DDP wrapper of :mod:`mmattn.engine` in mmengine's root registries. What it changes outside
mmattn is listed, with why, in :mod:`mmattn.compat`: one thing, the checkpoint allow-list.

The package is built in floors, each importing only the floors below it:
``version`` -> ``compat``, ``registry`` -> ``models`` -> ``config`` -> ``converters``,
``analysis``, ``visualization``, ``datasets`` -> ``engine``, ``zoo`` -> ``sweep``; the
``tools/`` scripts are thin over them (``tests/test_floors.py`` checks the rule).
"""
from .compat import apply_compat, check_stack

# An unsupported torch, or a numpy it cannot use: one sentence now, not an error in a forward.
check_stack()

from . import engine  # noqa: F401,E402  (registers the hooks and wrappers)
from .models import *  # noqa: F401,F403,E402
from .models import __all__ as _models_all  # noqa: E402
from .registry import MODELS, ROOT_MODELS  # noqa: F401,E402
from .version import __version__, version_info  # noqa: F401,E402

# What the import changes outside mmattn, and why: mmattn.compat.
apply_compat()

__all__ = ['__version__', 'version_info', 'MODELS', 'ROOT_MODELS'] + list(_models_all)
