"""Module mode and scaling mode of ``tools/benchmark.py``: one row of numbers per measurement.

Every row is a flat dict (JSON and CSV ready). Each stage (build, FLOPs,
forward, forward+backward, memory) that fails records its error in the row's
``error`` field and the others still run, so one module that does not support
a dtype does not stop a sweep.

What is measured (see :mod:`mmattn.analysis.measure` for how):

* ``params``: trainable and frozen parameters.
* ``flops``: :func:`mmattn.analysis.flops.count_flops` at the row's shape
  (traced in fp32 on CPU, eval mode); ``flops_mmengine``: mmengine's default
  counter on the same trace, for comparison.
* ``fwd_*``: inference, ``eval()`` under ``torch.no_grad()``.
* ``fwdbwd_*``: one training step's module work, ``train()``, the input
  requiring grad, ``out.backward(g)`` with a fixed random ``g`` (no loss
  computation); gradients are reset to None before each call.
* ``fwd_mem`` / ``fwdbwd_mem``: peak bytes above the state before the call.
* ``roofline`` (CUDA only): ``bytes / fwd_median`` over the measured device
  copy bandwidth; ``bytes`` from :func:`mmattn.analysis.measure.bytes_moved`.

Precision: ``fp32``, or ``fp16``/``bf16`` through ``torch.autocast`` (the
default, what mixed-precision training does), or, with ``cast=True``, module
and input converted to that dtype.
"""
import math
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from .flops import count_flops
from .measure import autocast_context, bytes_moved, copy_bandwidth, peak_memory, time_call
from .modules import BenchSpec, build_module, module_kwargs
from .process_memory import process_peak_rss

DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def _error(stage: str, exc: BaseException) -> str:
    return f'{stage}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}'


def _add_timing(row: Dict[str, Any], prefix: str, timing: Dict[str, float]) -> None:
    for key, value in timing.items():
        row[f'{prefix}_{key}'] = value


def measure_module(spec: BenchSpec,
                   shape: Sequence[int],
                   device: str = 'cpu',
                   precision: str = 'fp32',
                   channels_last: bool = False,
                   cast: bool = False,
                   overrides: Optional[Dict[str, Dict[str, Any]]] = None,
                   warmup: int = 3,
                   repeats: int = 20,
                   max_time: float = 10.0,
                   flops: bool = True,
                   backward: bool = True,
                   memory: bool = True,
                   process_memory: bool = False,
                   copy_bw: Optional[float] = None) -> Dict[str, Any]:
    """Measure one module at one shape and precision; a flat dict of numbers.

    Args:
        spec (BenchSpec): What to build (see :mod:`mmattn.analysis.modules`).
        shape (sequence of int): Input ``(B, C, H, W)``; ``C`` is in_channels.
        device (str): ``'cpu'`` or ``'cuda[:i]'``. Default: 'cpu'.
        precision (str): ``'fp32'``, ``'fp16'`` or ``'bf16'``. Default: 'fp32'.
        channels_last (bool): Module and input in channels_last. Default: False.
        cast (bool): Convert module and input to the dtype instead of
            autocast. Default: False.
        overrides (dict, optional): Per type name kwargs.
        warmup, repeats, max_time: See :func:`mmattn.analysis.measure.time_call`.
        flops, backward, memory (bool): Which measurements to take.
        process_memory (bool): Also run one call (forward+backward unless
            ``backward=False``) in a fresh interpreter and record its peak
            resident set (:mod:`mmattn.analysis.process_memory`); CPU only.
        copy_bw (float, optional): Device copy bandwidth (bytes/s) for the
            roofline column; CUDA only.
    """
    dev = torch.device(device)
    dtype = DTYPES[precision]
    b, c, h, w = shape
    row: Dict[str, Any] = dict(
        module=spec.label, type=spec.name, source=spec.source,
        kwargs=repr(module_kwargs(spec, overrides)), batch=b, channels=c, height=h, width=w,
        device=dev.type, precision=precision, mode='cast' if cast else 'autocast',
        channels_last=channels_last)
    errors: List[str] = []
    torch.manual_seed(0)
    try:
        module = build_module(spec, c, overrides)
    except Exception as exc:
        row['error'] = _error('build', exc)
        return row
    row['params'] = sum(p.numel() for p in module.parameters())

    if flops:
        x_cpu = torch.randn(b, c, h, w)
        try:
            result = count_flops(module.eval(), x_cpu)
            row['flops'] = result['total']
            row['flops_by_op'] = result['by_operator']
            row['flops_unsupported'] = result['unsupported']
            row['flops_mmengine'] = count_flops(module, x_cpu, extra_handles=False)['total']
        except Exception as exc:
            errors.append(_error('flops', exc))

    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    try:
        module = module.to(dev, memory_format=memory_format)
        x = torch.randn(b, c, h, w, device=dev).to(memory_format=memory_format)
        if cast:
            module, x = module.to(dtype), x.to(dtype)
    except Exception as exc:
        row['error'] = _error('to device', exc)
        return row

    def context():
        # A cast module runs in its own dtype; otherwise autocast (none for fp32).
        return autocast_context(dev, torch.float32 if cast else dtype)

    def forward():
        with torch.no_grad(), context():
            return module(x)

    out = None
    try:
        module.eval()
        out = forward()
        _add_timing(row, 'fwd', time_call(forward, dev, warmup, repeats, max_time=max_time))
        if memory:
            row['fwd_mem'] = peak_memory(forward, dev)
    except Exception as exc:
        errors.append(_error('forward', exc))

    if backward:
        try:
            module.train()
            x_req = x.detach().clone().requires_grad_(True)
            with context():
                grad = torch.randn_like(module(x_req)).detach()

            def forward_backward():
                module.zero_grad(set_to_none=True)
                x_req.grad = None
                with context():
                    y = module(x_req)
                y.backward(grad)

            _add_timing(row, 'fwdbwd',
                        time_call(forward_backward, dev, warmup, repeats, max_time=max_time))
            if memory:
                row['fwdbwd_mem'] = peak_memory(forward_backward, dev)
            module.zero_grad(set_to_none=True)
        except Exception as exc:
            errors.append(_error('forward+backward', exc))

    if process_memory and dev.type == 'cpu' and not cast and precision == 'fp32':
        try:
            row.update(process_peak_rss(spec.label, shape, backward=backward,
                                        threads=torch.get_num_threads(), overrides=overrides))
        except Exception as exc:
            errors.append(_error('process memory', exc))

    if dev.type == 'cuda' and out is not None and 'fwd_median_ms' in row:
        moved = bytes_moved(module, x, out)
        row.update(moved)
        achieved = moved['bytes'] / (row['fwd_median_ms'] / 1e3)
        row['achieved_bw'] = achieved
        if copy_bw:
            row['copy_bw'] = copy_bw
            row['roofline'] = achieved / copy_bw
    if errors:
        row['error'] = '; '.join(errors)
    return row


def run_modules(specs: Sequence[BenchSpec],
                shapes: Sequence[Sequence[int]],
                precisions: Sequence[str] = ('fp32', ),
                channels_last: Sequence[bool] = (False, ),
                progress: Optional[Callable[[str], None]] = None,
                **kwargs: Any) -> List[Dict[str, Any]]:
    """Module mode: :func:`measure_module` for every spec x shape x precision x layout.

    ``progress(label)`` is called after each measurement. On CUDA the copy
    bandwidth is measured once and passed to every row.
    """
    device = torch.device(kwargs.get('device', 'cpu'))
    if device.type == 'cuda' and 'copy_bw' not in kwargs:
        kwargs['copy_bw'] = copy_bandwidth(device)
    rows = []
    for shape in shapes:
        for precision in precisions:
            for layout in channels_last:
                for spec in specs:
                    try:
                        row = measure_module(spec, shape, precision=precision,
                                             channels_last=layout, **kwargs)
                    except Exception as exc:  # a crash in one row must not end the sweep
                        row = dict(module=spec.label, error=_error('benchmark', exc),
                                   traceback=traceback.format_exc(limit=3))
                    rows.append(row)
                    if device.type == 'cuda':
                        torch.cuda.empty_cache()
                    if progress is not None:
                        progress(spec.label)
    return rows


def scaling_exponent(sizes: Sequence[float], values: Sequence[Optional[float]]) -> Optional[float]:
    """The power k in ``value ~ size**k`` between the two largest sizes with values."""
    pairs = [(s, v) for s, v in zip(sizes, values) if v is not None and v > 0]
    if len(pairs) < 2:
        return None
    (s1, v1), (s2, v2) = sorted(pairs)[-2:]
    if s1 == s2:
        return None
    return math.log(v2 / v1) / math.log(s2 / s1)


def run_scaling(specs: Sequence[BenchSpec],
                sizes: Sequence[int] = (16, 32, 64, 128),
                batch: int = 2,
                channels: int = 256,
                progress: Optional[Callable[[str], None]] = None,
                **kwargs: Any) -> Dict[str, Any]:
    """Scaling mode: each spec at square inputs ``batch x channels x s x s`` for s in sizes.

    Returns ``rows`` (one per spec and size, as :func:`run_modules`) and
    ``exponents``: per module, the power of ``H*W`` that forward time,
    forward memory and FLOPs grow with between the two largest sizes (about
    1 for gates and convolutions, about 2 for full spatial self-attention).
    """
    rows = run_modules(specs, [(batch, channels, s, s) for s in sizes], progress=progress,
                       **kwargs)
    exponents = []
    for spec in specs:
        mine = [r for r in rows if r.get('module') == spec.label]
        pixels = [r.get('height', 0) * r.get('width', 0) for r in mine]
        entry: Dict[str, Any] = dict(module=spec.label)
        for key in ('fwd_median_ms', 'fwd_mem', 'fwdbwd_median_ms', 'fwdbwd_mem', 'flops'):
            entry[f'{key}_exponent'] = scaling_exponent(pixels, [r.get(key) for r in mine])
        exponents.append(entry)
    return dict(rows=rows, exponents=exponents)


__all__ = ['DTYPES', 'measure_module', 'run_modules', 'run_scaling', 'scaling_exponent']
