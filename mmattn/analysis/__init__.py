"""Cost analysis of attention modules: what ``tools/benchmark.py`` calls.

* :mod:`.flops`: FLOP counting with stated rules for attention, softmax,
  pooling, gating and elementwise ops (mmengine counts none of them).
* :mod:`.measure`: latency (median and IQR), peak memory on CPU and CUDA,
  copy bandwidth, bytes moved.
* :mod:`.modules`: module specs (``Name(k=v)`` in mmattn's one spec grammar,
  ``baseline:Name``), built by name from the registry.
* :mod:`.bench`: module mode and scaling mode.
* :mod:`.model`: model mode (a config with and without its attention).
* :mod:`.report`: markdown, JSON, CSV, the scaling plot, the progress bar.
* :mod:`.baselines`: direct transcriptions of the seed math (``BASELINES``).
"""
from .bench import measure_module, run_modules, run_scaling, scaling_exponent
from .flops import FLOP_RULES, count_flops, flop_rules_markdown, matmul_flops, sdpa_flops
from .measure import copy_bandwidth, peak_memory, time_call
from .model import run_model
from .modules import BenchSpec, build_module, default_specs, parse_spec, resolve_specs

__all__ = [
    'FLOP_RULES', 'BenchSpec', 'build_module', 'copy_bandwidth', 'count_flops',
    'default_specs', 'flop_rules_markdown', 'matmul_flops', 'measure_module', 'parse_spec',
    'peak_memory', 'resolve_specs', 'run_model', 'run_modules', 'run_scaling',
    'scaling_exponent', 'sdpa_flops', 'time_call'
]
