"""mmcv's compiled ops under bfloat16 (``--amp`` on a CPU).

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
import functools
import importlib
import inspect
import pkgutil
from typing import Any, List

import torch

from .stack import mmcv_ops_error

__all__ = ['fp32_function', 'mmcv_op_functions', 'mmcv_ops_in_fp32']


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
    try:
        import mmcv.ops
    except (ImportError, OSError) as error:
        sentence = mmcv_ops_error(error)
        if sentence is not None:
            raise sentence from error
        raise
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


def mmcv_ops_in_fp32() -> None:
    """Apply :func:`fp32_function` to every autograd ``Function`` of ``mmcv.ops``."""
    try:
        functions = mmcv_op_functions()
    except ImportError:  # mmcv without compiled ops (mmcv-lite)
        return
    for function in functions:
        fp32_function(function)
