"""What mmattn needs from the installed stack, in one place.

- :mod:`.torch_features`: every torch API newer than mmattn's floor
  (:data:`mmattn.version.TORCH_MINIMUM`), detected by feature; the rest of mmattn calls
  them from here (``is_compiling``, ``is_exporting``, ``cond``, ``export_dim``,
  ``onnx_export``, ``autocast_dtype``, ...), and :func:`require` refuses, with one
  sentence, a feature the installed torch lacks.
- :mod:`.stack`: the check ``import mmattn`` runs (torch too old, a numpy that torch
  cannot use) and the sentence for an mmcv compiled against another torch.

What importing mmattn changes outside mmattn, each process-wide and idempotent
(:func:`apply_compat`), with why:

1. :mod:`.checkpoint`: the objects of an mmengine checkpoint are allowed under torch's
   ``weights_only=True`` (torch >= 2.6 refuses them, so resume failed). Nothing else is.
2. :mod:`.mmcv_ops`: every autograd ``Function`` of ``mmcv.ops`` computes bfloat16 (and,
   on the CPU, float16) inputs on float32 copies, since mmcv 2.1's kernels take neither
   (``--amp`` on a CPU stopped in the RPN's NMS).
"""
from .checkpoint import allow_mmengine_checkpoints, checkpoint_safe_globals
from .mmcv_ops import fp32_function, mmcv_op_functions, mmcv_ops_in_fp32
from .stack import check_numpy, check_stack, check_torch, mmcv_ops_error, release
from .torch_features import (FEATURES, TorchFeatureError, add_safe_globals, autocast_disabled,
                             autocast_dtype, cond, cpu_autocast_dtypes, cpu_float16, export_dim,
                             is_compiling, is_exporting, missing, onnx_export, require, sym_min,
                             torch_load)

__all__ = [
    'apply_compat', 'allow_mmengine_checkpoints', 'checkpoint_safe_globals', 'fp32_function',
    'mmcv_op_functions', 'mmcv_ops_in_fp32', 'check_numpy', 'check_stack', 'check_torch',
    'mmcv_ops_error', 'release', 'FEATURES', 'TorchFeatureError', 'add_safe_globals',
    'autocast_disabled', 'autocast_dtype', 'cond', 'cpu_autocast_dtypes', 'cpu_float16',
    'export_dim', 'is_compiling', 'is_exporting', 'missing', 'onnx_export', 'require',
    'sym_min', 'torch_load'
]

_applied = False


def apply_compat() -> None:
    """Apply the two process-wide changes listed above (idempotent)."""
    global _applied
    if _applied:
        return
    allow_mmengine_checkpoints()
    mmcv_ops_in_fp32()
    _applied = True
