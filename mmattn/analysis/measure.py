"""Latency, peak memory and copy bandwidth, on CPU or CUDA.

Latency: ``warmup`` untimed calls (fewer, at least one, once they have taken
``max_time / 2`` seconds), then up to ``repeats`` timed calls (fewer once
``max_time`` seconds have been spent and ``min_repeats`` are done), each
timed with ``time.perf_counter`` around the call, after
``torch.cuda.synchronize()`` on both sides on CUDA. Reported: median, first
and third quartile (the spread is the IQR), min and max, in milliseconds.

Peak memory: the largest number of tensor bytes allocated during one call,
above what was allocated when it started (inputs, parameters and anything
held before the call do not count; outputs, activations saved for backward,
temporaries and gradients do).

* CUDA: ``torch.cuda.max_memory_allocated()`` after
  ``reset_peak_memory_stats()``, minus ``memory_allocated()`` before.
* CPU: the same quantity, from PyTorch's own allocator events recorded by
  ``torch.profiler`` with ``profile_memory=True``: the running sum of
  allocation sizes and frees, in order, and its maximum. It is exact and
  deterministic (unlike the process's RSS, which depends on the allocator's
  caching and on what ran before), and it measures what CUDA's counter
  measures. It does not see memory that libraries allocate outside
  PyTorch's allocator (oneDNN/BLAS scratch buffers) or Python objects.
"""
import os
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, ContextManager, Dict, Iterator, Optional

import torch


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast_context(device: torch.device, dtype: torch.dtype) -> ContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``; no context for fp32."""
    if dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _quantile(sorted_values, q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize_times(times_s) -> Dict[str, float]:
    """Median, quartiles, min and max of times in seconds, in milliseconds."""
    ms = sorted(t * 1e3 for t in times_s)
    return dict(median_ms=statistics.median(ms), q1_ms=_quantile(ms, 0.25),
                q3_ms=_quantile(ms, 0.75), min_ms=ms[0], max_ms=ms[-1], repeats=len(ms))


def time_call(fn: Callable[[], Any], device: torch.device, warmup: int = 3, repeats: int = 20,
              min_repeats: int = 3, max_time: float = 10.0) -> Dict[str, float]:
    """Time ``fn()`` (see the module docstring); a dict of milliseconds."""
    warm = 0.0
    for i in range(warmup):
        if i >= 1 and warm >= max_time / 2:  # slow calls: one warm-up is enough
            break
        start = time.perf_counter()
        fn()
        synchronize(device)
        warm += time.perf_counter() - start
    times = []
    spent = 0.0
    for i in range(max(repeats, 1)):
        if i >= min_repeats and spent >= max_time:
            break
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        spent += elapsed
    return summarize_times(times)


def _cpu_allocation_sizes(prof) -> list:
    """(time, signed bytes) of every CPU allocator event, from the profiler."""
    try:
        from torch._C._profiler import _EventType
        events = []
        stack = list(prof.profiler.kineto_results.experimental_event_tree())
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.tag == _EventType.Allocation:
                fields = node.extra_fields
                if fields.device.type == 'cpu':
                    events.append((node.start_time_ns, int(fields.alloc_size)))
        return events
    except (ImportError, AttributeError):  # private API moved: ops' own allocations
        return [(e.time_range.start, int(e.self_cpu_memory_usage)) for e in prof.events()
                if e.self_cpu_memory_usage]


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Silence file descriptor 2: the profiler's C++ side logs a line per start and stop."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real descriptor 2 (an embedded interpreter): nothing to silence
        yield
        return
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory(fn: Callable[[], Any], device: torch.device) -> int:
    """Peak tensor bytes allocated during one ``fn()`` call (see the module docstring)."""
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    from torch.profiler import ProfilerActivity, profile
    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU],
                                            profile_memory=True) as prof:
        fn()
    current = peak = 0
    for _, size in sorted(_cpu_allocation_sizes(prof)):
        current += size
        peak = max(peak, current)
    return int(peak)


def copy_bandwidth(device: torch.device, nbytes: int = 256 * 2**20, repeats: int = 10) -> float:
    """Measured device-to-device copy bandwidth in bytes/s (read + write counted).

    ``dst.copy_(src)`` of ``nbytes``, median of ``repeats``: ``2 * nbytes / t``.
    """
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    timing = time_call(lambda: dst.copy_(src), device, warmup=3, repeats=repeats,
                       min_repeats=repeats)
    return 2 * nbytes / (timing['median_ms'] / 1e3)


def bytes_moved(module: torch.nn.Module, x: torch.Tensor, out: torch.Tensor) -> Dict[str, Any]:
    """The bytes one forward must move at least, and the rule used.

    A module can state its own count with a method ``_bytes_moved_(x) -> int``
    (for example to add an attention matrix that its algorithm must write);
    otherwise the generic rule: input read + output written + parameters and
    buffers read once, each at its own element size.
    """
    hook: Optional[Callable] = getattr(module, '_bytes_moved_', None)
    if callable(hook):
        return dict(bytes=int(hook(x)), bytes_rule='module _bytes_moved_')
    state = list(module.parameters()) + list(module.buffers())
    total = (x.numel() * x.element_size() + out.numel() * out.element_size()
             + sum(t.numel() * t.element_size() for t in state))
    return dict(bytes=int(total), bytes_rule='input + output + parameters')


__all__ = ['autocast_context', 'bytes_moved', 'copy_bandwidth', 'peak_memory',
           'summarize_times', 'synchronize', 'time_call']
