"""What mmattn needs from the installed stack, in one place.

- :mod:`.torch_features`: every torch API newer than mmattn's floor
  (:data:`mmattn.version.TORCH_MINIMUM`), detected by feature; the rest of mmattn calls
  them from here (``is_compiling``, ``is_exporting``, ``cond``, ``export_dim``,
  ``onnx_export``, ``autocast_dtype``, ...), and :func:`require` refuses, with one
  sentence, a feature the installed torch lacks.
- :mod:`.stack`: the check ``import mmattn`` runs (torch too old, a numpy that torch
  cannot use) and the sentence for an mmcv compiled against another torch.

What mmattn changes outside mmattn, each process-wide and idempotent, with why, and when:

1. On ``import mmattn`` (:func:`apply_compat`): :mod:`.checkpoint` allows the objects of
   an mmengine checkpoint under torch's ``weights_only=True`` (torch >= 2.6 refuses them,
   so resume failed), on torches that have the allow-list. Nothing else is allowed. It
   must happen at import: mmdet's and mmseg's own ``tools/train.py`` resume through the
   config's ``custom_imports`` and nothing else of mmattn.
2. Only where CPU mixed precision is used (an ``AutocastOptimWrapper`` is built: ``--amp``
   on a machine without CUDA), never at import: :func:`mmcv_ops_in_fp32` makes every
   autograd ``Function`` of ``mmcv.ops`` compute bfloat16 (and, on the CPU, float16) inputs
   on float32 copies, since mmcv 2.1's kernels take neither (the RPN's NMS stopped there).
   Call it yourself for your own CPU autocast around mmcv's ops.
"""
from .checkpoint import allow_mmengine_checkpoints, checkpoint_safe_globals
from .mmcv_ops import fp32_function, mmcv_op_functions, mmcv_ops_in_fp32
from .stack import check_numpy, check_stack, check_torch, mmcv_ops_error, release
from .torch_features import (FEATURES, TorchFeatureError, add_safe_globals, autocast_disabled,
                             autocast_dtype, cond, cpu_autocast_dtypes, cpu_float16, export_dim,
                             is_compiling, is_exporting, missing, onnx_export, require,
                             scaled_dot_product_attention, sym_min, torch_load)

__all__ = [
    'apply_compat', 'allow_mmengine_checkpoints', 'checkpoint_safe_globals', 'fp32_function',
    'mmcv_op_functions', 'mmcv_ops_in_fp32', 'check_numpy', 'check_stack', 'check_torch',
    'mmcv_ops_error', 'release', 'FEATURES', 'TorchFeatureError', 'add_safe_globals',
    'autocast_disabled', 'autocast_dtype', 'cond', 'cpu_autocast_dtypes', 'cpu_float16',
    'export_dim', 'is_compiling', 'is_exporting', 'missing', 'onnx_export', 'require',
    'scaled_dot_product_attention', 'sym_min', 'torch_load'
]

_applied = False


def apply_compat() -> None:
    """The change ``import mmattn`` makes (item 1 above; idempotent)."""
    global _applied
    if _applied:
        return
    allow_mmengine_checkpoints()
    _applied = True
