"""Argument and input checks that fail with a sentence naming the module, the value and the rule.

Every module of mmattn checks its constructor arguments and its inputs with
these functions, so one kind of mistake reads the same everywhere: a
``TypeError`` for a value of the wrong kind, a ``ValueError`` for a value of
the right kind that the module cannot use, each starting with the module's
name and naming the argument, the value given and what is allowed. The
config checks (``act_cfg``, ``norm_cfg``, ...) are in :mod:`.cfg`.
"""
import math
import numbers
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmattn.compat import TorchFeatureError, is_compiling, missing


def check_positive_int(module: str, name: str, value: object) -> int:
    """Return ``value`` if it is an int >= 1, else raise naming module and argument.

    Raises:
        TypeError: ``value`` is not an integer (bools are refused too).
        ValueError: ``value`` is smaller than 1.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f'{module}: {name} must be an int, '
                        f'got {value!r} of type {type(value).__name__}')
    if value < 1:
        raise ValueError(f'{module}: {name}={value} must be >= 1')
    return int(value)


def check_odd_kernel(module: str, name: str, value: object, why: str) -> int:
    """An int kernel size >= 1 that is odd; ``why`` completes "must be odd, ...".

    Raises:
        TypeError: ``value`` is not an int.
        ValueError: ``value`` is < 1 or even.
    """
    value = check_positive_int(module, name, value)
    if value % 2 == 0:
        raise ValueError(f'{module}: {name}={value} must be odd, {why}')
    return value


def check_number(module: str, name: str, value: object, low: Optional[float] = None,
                 low_inclusive: bool = True) -> float:
    """A finite real number (not a bool), optionally bounded below; returned as a float.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is nan or infinite, or below ``low``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{module}: {name} must be a number, '
                        f'got {value!r} of type {type(value).__name__}')
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f'{module}: {name}={value} must be a finite number')
    if low is not None and (value < low or (value == low and not low_inclusive)):
        rule = '>=' if low_inclusive else '>'
        raise ValueError(f'{module}: {name}={value:g} must be {rule} {low:g}')
    return value


def check_probability(module: str, name: str, value: object) -> float:
    """A dropout probability: a number in [0, 1). 1 would drop every value.

    Raises:
        TypeError: ``value`` is not a real number (None, a string, a bool).
        ValueError: ``value`` is nan or outside [0, 1).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{module}: {name} must be a probability in [0, 1), '
                        f'got {value!r} of type {type(value).__name__}')
    if not 0 <= value < 1:  # also false for nan
        raise ValueError(f'{module}: {name}={value} must be in [0, 1) (a dropout '
                         'probability; 1 would drop every value)')
    return float(value)


def check_choice(module: str, name: str, value: object, choices: Sequence[str]) -> str:
    """One of the strings ``choices``.

    Raises:
        ValueError: ``value`` is not one of them (whatever its type).
    """
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f'{module}: {name}={value!r} must be one of {tuple(choices)}')
    return value


def check_int_sequence(module: str, name: str, value: object,
                       length: Optional[int] = None) -> Tuple[int, ...]:
    """A non-empty sequence (list or tuple) of ints >= 1, as a tuple.

    A single int is refused rather than guessed at: where a module takes one
    size per branch or group, one number does not say how many there are.

    Raises:
        TypeError: ``value`` is not a list or tuple, or an entry is not an int.
        ValueError: it is empty, has not ``length`` entries, or an entry is < 1.
    """
    if not isinstance(value, (list, tuple)):
        raise TypeError(f'{module}: {name} must be a non-empty sequence of ints (one per '
                        f'branch or group), got {value!r} of type {type(value).__name__}')
    if not value:
        raise ValueError(f'{module}: {name} must not be empty, got {value!r}')
    if length is not None and len(value) != length:
        raise ValueError(f'{module}: {name}={tuple(value)} must hold {length} ints')
    return tuple(check_positive_int(module, f'{name}[{i}]', v) for i, v in enumerate(value))


def sizes_are_symbolic() -> bool:
    """True under ``torch.jit.trace`` (and ONNX export), ``torch.compile`` and ``torch.export``.

    There, the sizes of the inputs stand for every size the graph will see: a
    check that compares them in Python would freeze the example's sizes into
    the graph (trace) or add guards on them (compile, export). Checks of
    sizes that may vary (batch, height, width) are skipped there; checks of
    static ones (the channels) and of dtypes still run.
    """
    return torch.jit.is_tracing() or is_compiling()


def check_tensor(module: str, x: object, name: str = 'input') -> None:
    """Raise ``TypeError`` unless ``x`` is a real floating-point tensor.

    Integer and bool tensors would be truncated by the modules' weights and
    gates; complex ones would lose their imaginary part. The rule is the same
    for every module (and for every input of modules with several). A float16
    tensor on the CPU of a torch without float16 CPU kernels (2.1) raises
    :class:`~mmattn.compat.TorchFeatureError`.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f'{module}: {name} must be a torch.Tensor, got {type(x).__name__}')
    if not torch.is_floating_point(x):
        raise TypeError(f'{module}: {name} must be a real floating-point tensor (float16, '
                        f'bfloat16, float32 or float64), got dtype {x.dtype}')
    if x.dtype == torch.float16 and x.device.type == 'cpu':
        # torch 2.1 has no float16 CPU kernels: one sentence, not "slow_conv2d_cpu" not
        # implemented for 'Half' from somewhere inside the module.
        reason = missing('cpu float16')
        if reason is not None:
            raise TorchFeatureError(f'{module}: {name} is float16 on the CPU, and {reason}; '
                                    'use bfloat16 or float32 on the CPU')


def check_positive_sizes(module: str, x: Tensor, layout: str = 'BCHW', sizes: str = 'HW',
                         name: str = 'input') -> None:
    """Raise ``ValueError`` if a dim of ``x`` named in ``sizes`` is 0.

    ``layout`` names every dim of ``x`` (``'BCHW'``, ``'BCNT'``); ``sizes`` the
    ones that must be at least 1. A map without positions (H or W = 0) has
    nothing to pool, convolve or attend over: most modules would fail inside
    torch ("Kernel size can't be greater than actual input size", "amax():
    Expected reduction dim 2 to have non-zero size"), the others would return
    an empty map without having computed anything, so every module refuses it
    with this one sentence. The batch is not among ``sizes``: an empty batch
    (B = 0, a module on RoI features without RoIs) gives an empty output.

    Skipped where sizes are symbolic (:func:`sizes_are_symbolic`): a
    comparison there would add a guard on, or freeze, the example's sizes.
    """
    if sizes_are_symbolic():
        return
    shape = tuple(x.shape)
    empty = [f'{letter}=0' for letter in sizes if shape[layout.index(letter)] == 0]
    if empty:
        rule = ' and '.join(sizes)
        raise ValueError(
            f'{module}: {name} of shape {shape} ({", ".join(layout)}) has '
            f'{" and ".join(empty)}, but {rule} must be >= 1 (a map without positions has '
            'nothing to attend over; an empty batch, B=0, is fine)')


def check_feature_map(module: str, x: Tensor, channels: int) -> None:
    """Raise unless ``x`` is a real floating-point ``(B, channels, H, W)`` tensor with
    ``H, W >= 1``.

    Every 2D module of mmattn checks its input here, so each rule holds for all
    of them at once (a module added later included).

    Raises:
        TypeError: ``x`` is not a tensor, or not of a real floating dtype
            (see :func:`check_tensor`).
        ValueError: its shape is not ``(B, channels, H, W)``, or H or W is 0
            (see :func:`check_positive_sizes`; B = 0 is allowed).

    Only Python ints and dtypes are compared, so the check costs nothing
    measurable and leaves ``torch.jit.trace``, ONNX and ``torch.export``
    graphs unchanged (the channel count is static in all of them; the H, W
    check is skipped while sizes are symbolic).
    """
    check_tensor(module, x)
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(
            f'{module}: expected an input of shape (B, {channels}, H, W), '
            f'got {tuple(x.shape)}')
    check_positive_sizes(module, x)
