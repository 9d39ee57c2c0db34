"""mmengine checkpoints under torch's ``weights_only=True`` (torch >= 2.6).

torch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` without the argument (``runner/checkpoint.py``),
and its checkpoints hold more than tensors: the message hub's ``HistoryBuffer`` objects
(numpy arrays of logged values, numpy scalars and dtypes inside), and the buffers' table of
statistics methods, which pickle stores as ``getattr(HistoryBuffer, 'mean')``. So resume
fails with ``UnpicklingError: Weights only load failed``.

The fix keeps ``weights_only=True`` and allows exactly those objects
(``torch.serialization.add_safe_globals``, through :func:`mmattn.compat.add_safe_globals`):

- ``mmengine.logging.HistoryBuffer``;
- numpy's array and scalar reconstructors, ``numpy.ndarray``, ``numpy.dtype`` and the
  concrete dtype classes (numpy >= 1.25 pickles a dtype as an instance of, e.g.,
  ``numpy.dtypes.Float64DType``);
- ``builtins.getattr`` *only* as a restricted stand-in, :func:`_history_buffer_getattr`,
  which resolves the statistics methods of ``HistoryBuffer`` and refuses anything else.

A checkpoint that names any other class or function is still refused by torch. A torch
without the allow-list (< 2.4) does not default to ``weights_only=True`` either: nothing to do.
"""
import builtins
import pickle
from typing import Any, List

import numpy as np

from .torch_features import add_safe_globals

__all__ = ['checkpoint_safe_globals', 'allow_mmengine_checkpoints']


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` for unpickling, limited to the statistics methods of ``HistoryBuffer``."""
    # The four defaults are set by the first HistoryBuffer(), which unpickling may precede.
    from mmengine.logging import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'} | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'mmattn.compat: checkpoint asks for getattr({obj!r}, {name!r}); only the '
        'statistics methods of mmengine HistoryBuffer are allowed')


def _numpy_globals() -> List[Any]:
    # numpy 2 moved numpy.core to numpy._core; pickles name whichever wrote them.
    names = []
    for module_name in ('numpy._core.multiarray', 'numpy.core.multiarray'):
        try:
            module = __import__(module_name, fromlist=['_reconstruct'])
        except ImportError:
            continue
        names += [(module._reconstruct, f'{module_name}._reconstruct'),
                  (module.scalar, f'{module_name}.scalar')]
    dtype_classes = {type(np.dtype(t)) for t in (
        np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
        np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128)}
    return names + [np.ndarray, np.dtype] + sorted(dtype_classes, key=str)


def checkpoint_safe_globals() -> List[Any]:
    """Everything an mmengine 0.10 checkpoint holds besides tensors and builtin types.

    Returns:
        list: Entries for ``torch.serialization.add_safe_globals`` (objects, or
        ``(object, 'module.name')`` pairs).
    """
    from mmengine.logging import HistoryBuffer
    return _numpy_globals() + [
        HistoryBuffer,
        (_history_buffer_getattr, f'{builtins.__name__}.getattr'),
    ]


def allow_mmengine_checkpoints() -> bool:
    """Allow :func:`checkpoint_safe_globals` process-wide; False where torch has no allow-list."""
    return add_safe_globals(checkpoint_safe_globals())
