"""The few shims the pinned stack (torch 2.13, mmengine 0.10.7) needs, each with its reason.

:func:`apply_compat` applies all of them; it is idempotent. Importing mmattn applies it,
so every way users launch an mmattn config resumes: mmattn's tools, mmdet's and mmseg's own
``tools/train.py`` (the config's ``custom_imports`` imports mmattn before the runner loads a
checkpoint) and ``Runner.from_cfg(cfg)`` in a script. What it widens is narrow: exactly the
objects an mmengine checkpoint holds, listed below; a file naming anything else is still
refused by ``torch.load``.

Checkpoints and ``weights_only`` (torch >= 2.6)
-----------------------------------------------
torch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine 0.10.7 calls
``torch.load(filename, map_location=...)`` without the argument (``runner/checkpoint.py``),
and its checkpoints hold more than tensors: the message hub's ``HistoryBuffer`` objects
(numpy arrays of logged values, numpy scalars and dtypes inside), and the buffers' table of
statistics methods, which pickle stores as ``getattr(HistoryBuffer, 'mean')``. So resume
fails with ``UnpicklingError: Weights only load failed``.

The fix keeps ``weights_only=True`` and allows exactly those objects
(``torch.serialization.add_safe_globals``):

- ``mmengine.logging.HistoryBuffer``;
- numpy's array and scalar reconstructors, ``numpy.ndarray``, ``numpy.dtype`` and the
  concrete dtype classes (numpy >= 1.25 pickles a dtype as an instance of, e.g.,
  ``numpy.dtypes.Float64DType``);
- ``builtins.getattr`` *only* as a restricted stand-in, :func:`_history_buffer_getattr`,
  which resolves the statistics methods of ``HistoryBuffer`` and refuses anything else.

A checkpoint that names any other class or function is still refused by torch.

mmcv's compiled ops under bfloat16 (``--amp`` on a CPU)
-------------------------------------------------------
mmcv 2.1's C++/CUDA kernels take float32 and float64 (and float16 on CUDA), never
bfloat16, and its CPU kernels never float16: under CPU autocast a two-stage detector
stops in the RPN (``nms``: ``expected scalar type Float but found BFloat16``), and
next in ``RoIAlign``. On CUDA, mmdet's AMP is float16, which those kernels take.

The fix is one rule for every autograd ``Function`` of ``mmcv.ops`` (found by walking
the package, not listed by hand): when a floating input is bfloat16, or float16 on the
CPU, the forward runs on float32 copies of those inputs and its floating outputs are
cast back to their dtype, and the backward runs on float32 copies of the gradients
(:func:`fp32_function`). Nothing changes for float32/float64 inputs or for float16 on
CUDA.
"""
import builtins
import functools
import importlib
import inspect
import pickle
import pkgutil
from typing import Any, List

import numpy as np
import torch

__all__ = ['apply_compat', 'checkpoint_safe_globals', 'fp32_function', 'mmcv_op_functions']

_applied = False


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


def _needs_fp32(t: Any) -> bool:
    """A tensor that mmcv's compiled kernels cannot take as it is."""
    return isinstance(t, torch.Tensor) and (
        t.dtype == torch.bfloat16 or (t.dtype == torch.float16 and t.device.type == 'cpu'))


def _cast_floats(obj: Any, dtype: torch.dtype) -> Any:
    if isinstance(obj, torch.Tensor) and obj.is_floating_point():
        return obj.to(dtype)
    if isinstance(obj, tuple):
        return tuple(_cast_floats(o, dtype) for o in obj)
    return obj


def fp32_function(function: type) -> None:
    """Make an autograd ``Function`` compute in float32 when its inputs are low precision.

    The forward runs on float32 copies of the inputs mmcv cannot take, and its floating
    outputs are cast back to their dtype (what mmcv's float16 CUDA kernels return, so the
    caller's graph keeps its precision: mmdet writes RoIAlign's output into a tensor of the
    features' dtype); the backward runs on float32 copies of such gradients, and autograd
    casts the gradients it returns to each input's dtype. Idempotent.
    """
    forward, backward = function.forward, function.backward
    if getattr(forward, '_mmattn_fp32', False):
        return

    @functools.wraps(forward)
    def fp32_forward(ctx, *args, **kwargs):
        low = [t.dtype for t in (*args, *kwargs.values()) if _needs_fp32(t)]
        if not low:
            return forward(ctx, *args, **kwargs)
        args = tuple(a.float() if _needs_fp32(a) else a for a in args)
        kwargs = {k: v.float() if _needs_fp32(v) else v for k, v in kwargs.items()}
        return _cast_floats(forward(ctx, *args, **kwargs), low[0])

    @functools.wraps(backward)
    def fp32_backward(ctx, *grads):
        return backward(ctx, *(g.float() if _needs_fp32(g) else g for g in grads))

    fp32_forward._mmattn_fp32 = True
    function.forward = staticmethod(fp32_forward)
    if 'backward' in vars(function):
        function.backward = staticmethod(fp32_backward)


def mmcv_op_functions() -> List[type]:
    """Every autograd ``Function`` defined in the modules of ``mmcv.ops``."""
    import mmcv.ops
    functions = []
    for info in pkgutil.iter_modules(mmcv.ops.__path__, 'mmcv.ops.'):
        try:
            module = importlib.import_module(info.name)
        except Exception:  # an op whose extension this build lacks: nothing to wrap
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (issubclass(obj, torch.autograd.Function) and obj.__module__ == module.__name__
                    and 'forward' in vars(obj)):
                functions.append(obj)
    return functions


def _mmcv_ops_in_fp32() -> None:
    try:
        functions = mmcv_op_functions()
    except ImportError:  # mmcv without compiled ops (mmcv-lite)
        return
    for function in functions:
        fp32_function(function)


def apply_compat() -> None:
    """Apply every shim (idempotent)."""
    global _applied
    if _applied:
        return
    # torch < 2.4 has no add_safe_globals and does not default to weights_only=True.
    if hasattr(torch.serialization, 'add_safe_globals'):
        torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _mmcv_ops_in_fp32()
    _applied = True
