"""Every torch API newer than mmattn's floor, reached through one module.

mmattn supports torch from :data:`mmattn.version.TORCH_MINIMUM` on (the oldest torch with
OpenMMLab's prebuilt mmcv 2.1 wheels) to the newest tested here. APIs that appeared after
the floor are detected by looking for them, never by comparing version strings (a nightly,
a vendor build or a backport has the feature whatever its version says), and every other
file of mmattn calls them through the functions below, so each rule has one home:

============================  ==============================================  ============
feature                       what mmattn does without it                     first torch
============================  ==============================================  ============
torch.compiler.is_compiling   ``torch._dynamo.is_compiling`` (the same flag)  2.3
torch.compiler.is_exporting   dynamic ``torch.export`` is refused             2.7
torch.export.Dim              dynamic ``torch.export`` is refused             2.2
torch.cond                    only reached while exporting (see above)        2.3
add_safe_globals              nothing to allow: ``torch.load`` there does     2.4
                              not default to ``weights_only=True`` (2.6)
fused CPU SDPA kernel         the math path (memory quadratic in H*W)         2.2
ONNX exporter's ``dynamo=``   the TorchScript exporter is the only one        2.5
get_autocast_dtype            ``get_autocast_cpu_dtype``/``_gpu_dtype``        2.4
is_autocast_available         ``torch.autocast`` tried on the device type      2.4
CPU float16 kernels           pure float16 on the CPU is refused              after 2.1.2
CPU float16 autocast          autocast on the CPU takes bfloat16 only         after 2.1.2
============================  ==============================================  ============

A feature that mmattn cannot provide without the installed torch raises
:class:`TorchFeatureError` from :func:`require`: one sentence naming the feature, the
installed torch and the torch that has it. Tests of such features skip with that sentence
(``tests/conftest.py``'s ``skip_unless`` turns :func:`missing` into ``pytest.skip``).
"""
import contextlib
import functools
import inspect
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

__all__ = [
    'TorchFeatureError', 'FEATURES', 'missing', 'require', 'is_compiling', 'is_exporting',
    'cond', 'sym_min', 'export_dim', 'onnx_export', 'scaled_dot_product_attention',
    'autocast_dtype', 'autocast_disabled', 'cpu_float16', 'cpu_autocast_dtypes', 'torch_load',
    'add_safe_globals'
]


class TorchFeatureError(RuntimeError):
    """A feature mmattn needs is missing from the installed torch."""


def _has(path: str) -> bool:
    obj: Any = torch
    for part in path.split('.')[1:]:
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


@functools.lru_cache(maxsize=None)
def _probe_cpu_float16() -> bool:
    """Whether the CPU kernels mmattn's modules need exist for float16 (torch 2.1 has no
    float16 convolution, ``"slow_conv2d_cpu" not implemented for 'Half'``)."""
    x = torch.ones(1, 2, 3, 3, dtype=torch.float16)
    try:
        torch.nn.functional.conv2d(x, torch.ones(2, 2, 3, 3, dtype=torch.float16), padding=1)
        torch.nn.functional.conv1d(x.flatten(2), torch.ones(2, 1, 3, dtype=torch.float16),
                                   padding=1, groups=2)
        torch.nn.functional.group_norm(x, 1)
        torch.nn.functional.batch_norm(x, None, None, training=True)
        torch.nn.functional.layer_norm(x, (3, ))
        x.softmax(-1)
    except RuntimeError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _probe_cpu_autocast_float16() -> bool:
    # torch 2.1: "AutocastCPU only support Bfloat16", with a warning, and autocast stays off.
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            with torch.autocast('cpu', dtype=torch.float16):
                return torch.is_autocast_cpu_enabled() and torch.get_autocast_cpu_dtype(
                ) == torch.float16
        except RuntimeError:
            return False


@functools.lru_cache(maxsize=None)
def _probe_weights_only_default() -> bool:
    """Whether ``torch.load`` without ``weights_only`` refuses a pickled class (torch >= 2.6)."""
    import io
    import pickle
    buffer = io.BytesIO()
    torch.save({'probe': _Probe()}, buffer)
    buffer.seek(0)
    try:
        torch.load(buffer)
    except pickle.UnpicklingError:
        return True
    return False


class _Probe:
    """A class no allow-list names (for :func:`_probe_weights_only_default`)."""


# name -> (detector, what it enables, which torch has it: words for the user, never compared;
# for the CPU float16 kernels the first release was not measured, only that 2.1.2 lacks them)
FEATURES: Dict[str, Tuple[Callable[[], bool], str, str]] = {
    'dynamic torch.export': (
        lambda: _has('torch.export.Dim') and _has('torch.compiler.is_exporting')
        and _has('torch.cond'),
        'torch.export with dynamic sizes (torch.export.Dim, torch.compiler.is_exporting, '
        'torch.cond)', 'torch >= 2.7'),
    'torch.cond': (lambda: _has('torch.cond'), 'torch.cond', 'torch >= 2.3'),
    'onnx dynamo exporter': (
        lambda: 'dynamo' in inspect.signature(torch.onnx.export).parameters,
        "torch.onnx.export's dynamo argument", 'torch >= 2.5'),
    'cpu float16': (_probe_cpu_float16,
                    'float16 kernels on the CPU (convolutions, norms, softmax)',
                    'a torch newer than 2.1.2'),
    'cpu autocast float16': (_probe_cpu_autocast_float16, 'float16 autocast on the CPU',
                             'a torch newer than 2.1.2'),
    'add_safe_globals': (lambda: _has('torch.serialization.add_safe_globals'),
                         'torch.serialization.add_safe_globals', 'torch >= 2.4'),
    'weights_only by default': (_probe_weights_only_default,
                                "torch.load's weights_only=True default", 'torch >= 2.6'),
    'cpu fused sdpa': (
        lambda: hasattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu'),
        'the fused CPU kernel of scaled_dot_product_attention (memory linear in the sequence '
        'length)', 'torch >= 2.2'),
}


def missing(feature: str) -> Optional[str]:
    """``None`` when the installed torch has ``feature``, else the sentence saying it lacks it."""
    detect, what, first = FEATURES[feature]
    if detect():
        return None
    return (f'{what} needs {first}; the installed torch {torch.__version__} does not '
            'have it')


def require(feature: str, who: str = 'mmattn') -> None:
    """Raise :class:`TorchFeatureError` naming ``who`` unless torch has ``feature``."""
    sentence = missing(feature)
    if sentence is not None:
        raise TorchFeatureError(f'{who}: {sentence}')


def is_compiling() -> bool:
    """True under ``torch.compile`` and ``torch.export`` (dynamo tracing)."""
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_compiling'):
        return compiler.is_compiling()
    return torch._dynamo.is_compiling()


def is_exporting() -> bool:
    """True under ``torch.export`` only. Without ``torch.compiler.is_exporting`` (torch < 2.7)
    False: dynamic export is refused there (:func:`export_dim`), so nothing traced depends on it."""
    compiler = getattr(torch, 'compiler', None)
    if compiler is not None and hasattr(compiler, 'is_exporting'):
        return compiler.is_exporting()
    return False


def cond(pred: Any, true_fn: Callable, false_fn: Callable, operands: Sequence[Any]) -> Any:
    """``torch.cond`` (only reached while exporting, which needs a torch that has it)."""
    require('torch.cond')
    return torch.cond(pred, true_fn, false_fn, tuple(operands))


def sym_min(a: Any, b: Any) -> Any:
    """``min`` that keeps a symbolic size symbolic (``torch.sym_min``, present since 2.0)."""
    return torch.sym_min(a, b)


def export_dim(name: str, min: int = 1, max: Optional[int] = None) -> Any:
    """A named dynamic dimension for ``torch.export`` (``torch.export.Dim``), or a
    :class:`TorchFeatureError` on a torch without dynamic export."""
    require('dynamic torch.export', 'torch.export with dynamic sizes')
    from torch.export import Dim
    return Dim(name, min=min) if max is None else Dim(name, min=min, max=max)


def onnx_export(model: Any, args: Any, f: Any, **kwargs: Any) -> Any:
    """``torch.onnx.export`` with the TorchScript exporter on every torch.

    torch >= 2.9 defaults to the dynamo exporter; mmattn's ONNX path (opset 17,
    ``dynamic_axes``) is the TorchScript one, the only one torch < 2.5 has.
    """
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs.setdefault('dynamo', False)
    return torch.onnx.export(model, args, f, **kwargs)


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 attn_mask: Optional[torch.Tensor] = None,
                                 dropout_p: float = 0.0,
                                 scale: Optional[float] = None) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` (``scale=`` needs torch >= 2.1, mmattn's floor).

    Under ONNX export the same function is written out (``softmax(q k^T * scale + mask) v``):
    torch 2.1's exporter stops on an explicit ``scale`` (its symbolic hands the float to a
    tensor constant: ``z_(): incompatible function arguments``), and opset 17 has no attention
    operator, so the exported graph is this decomposition on every torch anyway.
    """
    if not torch.onnx.is_in_onnx_export():
        return torch.nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale)
    scale = query.shape[-1]**-0.5 if scale is None else scale
    scores = torch.matmul(query, key.transpose(-2, -1)) * scale
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float('-inf')) if attn_mask.dtype == torch.bool \
            else scores + attn_mask
    return torch.matmul(scores.softmax(-1), value)


def autocast_dtype(device_type: str) -> torch.dtype:
    """The dtype autocast casts to on ``device_type`` now (``torch.get_autocast_dtype``)."""
    if hasattr(torch, 'get_autocast_dtype'):
        return torch.get_autocast_dtype(device_type)
    if device_type == 'cpu':
        return torch.get_autocast_cpu_dtype()
    return torch.get_autocast_gpu_dtype()


@functools.lru_cache(maxsize=None)
def _autocast_available(device_type: str) -> bool:
    amp = getattr(torch, 'amp', None)
    if amp is not None and hasattr(amp, 'is_autocast_available'):
        return amp.is_autocast_available(device_type)
    try:
        torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # torch 2.1: "User specified an unsupported autocast device_type"
        return False
    return True


def autocast_disabled(device_type: str) -> Any:
    """A context in which autocast is off on ``device_type``.

    A device type autocast does not know gets a context that does nothing: the ``meta``
    device (shapes only, what deferred initialisation of large models runs on) has no
    autocast to turn off, and ``torch.autocast(device_type='meta')`` raises
    ("unsupported scalarType" on torch 2.14, "unsupported autocast device_type" on 2.1).
    Under ``torch.compile`` and ``torch.export`` the device is a real one and the context
    is ``torch.autocast``'s, without asking torch first.
    """
    if not is_compiling() and not _autocast_available(device_type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, enabled=False)


def cpu_float16() -> bool:
    """Whether float16 tensors can run mmattn's modules on the CPU."""
    return missing('cpu float16') is None


def cpu_autocast_dtypes() -> Tuple[torch.dtype, ...]:
    """The low-precision dtypes CPU autocast takes: bfloat16 always, float16 where it exists."""
    if missing('cpu autocast float16') is None:
        return (torch.bfloat16, torch.float16)
    return (torch.bfloat16, )


def torch_load(path: Any, map_location: Any = 'cpu', weights_only: bool = True) -> Any:
    """``torch.load`` with ``weights_only`` passed explicitly (torch's default changed in 2.6)."""
    return torch.load(path, map_location=map_location, weights_only=weights_only)


def add_safe_globals(entries: Sequence[Any]) -> bool:
    """Allow ``entries`` under ``weights_only=True``; False where torch has no allow-list
    (torch < 2.4, whose ``torch.load`` does not default to ``weights_only=True`` either)."""
    if missing('add_safe_globals') is not None:
        return False
    torch.serialization.add_safe_globals(list(entries))
    return True
