"""Mixed precision without a loss scaler, for bfloat16 on CPU (and GPU).

mmengine's ``AmpOptimWrapper`` asserts that a GPU (or NPU, MLU, MUSA) is present, because
its ``GradScaler`` is CUDA's. bfloat16 has float32's exponent range, so it needs no loss
scaling: autocast in the forward pass is all mixed precision takes.
"""
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from mmengine.runner.amp import autocast

from mmattn.compat import mmcv_ops_in_fp32

__all__ = ['AutocastOptimWrapper']


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """An ``OptimWrapper`` whose forward pass runs under ``torch.autocast`` in bfloat16.

    Args:
        dtype (str | torch.dtype): The autocast dtype; only bfloat16, which needs no loss
            scaling (use mmengine's ``AmpOptimWrapper`` for float16 on a GPU).
            Defaults to ``'bfloat16'``.
        device_type (str, optional): ``'cpu'`` or ``'cuda'``; None takes the device
            mmengine trains on. Defaults to None.
        **kwargs: Passed to ``OptimWrapper`` (``optimizer``, ``clip_grad``, ...).
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 device_type: Optional[str] = None,
                 **kwargs) -> None:
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'AutocastOptimWrapper: dtype={dtype!r} must be bfloat16; '
                             'float16 needs loss scaling (mmengine AmpOptimWrapper, GPU)')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16
        self.device_type = device_type
        # mmcv's compiled kernels take no bfloat16: its ops compute such inputs in float32
        # (process-wide, from here on; see mmattn.compat).
        mmcv_ops_in_fp32()

    @contextmanager
    def optim_context(self, model: nn.Module):
        """The parent's context (gradient accumulation) plus bfloat16 autocast."""
        with super().optim_context(model), autocast(device_type=self.device_type,
                                                    dtype=self.cast_dtype):
            yield
