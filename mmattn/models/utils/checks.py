"""Argument and input checks that fail with a sentence naming the module and rule."""
import numbers

from torch import Tensor


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


def check_feature_map(module: str, x: Tensor, channels: int) -> None:
    """Raise ``ValueError`` unless ``x`` is a ``(B, channels, H, W)`` tensor.

    Only Python ints are compared, so the check costs nothing measurable and
    leaves ``torch.jit.trace`` and ONNX export graphs unchanged.
    """
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(
            f'{module}: expected an input of shape (B, {channels}, H, W), '
            f'got {tuple(x.shape)}')
