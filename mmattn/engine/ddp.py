"""Data-parallel training on CPU processes (gloo), SyncBN configs included.

mmengine's runner reverts every ``SyncBatchNorm`` to ``BatchNormXd`` when it trains in
one process (``Runner.wrap_model``, with an INFO line), because SyncBN needs a process
group and CUDA. Under a launcher it wraps the model in ``MMDistributedDataParallel``,
whose constructor refuses SyncBN on CPU modules (``SyncBatchNorm layers only work with
GPU modules``), so every mmseg config (``norm_cfg=dict(type='SyncBN')``) failed in
``tools/dist_train.sh`` on CPU. :class:`CPUDistributedDataParallel` reverts them as
the single process does, then wraps.
"""
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS

__all__ = ['CPUDistributedDataParallel', 'count_sync_batchnorms']


def count_sync_batchnorms(module: nn.Module) -> int:
    """The SyncBN layers (torch's and mmcv's) in ``module``."""
    return sum(type(m).__name__ == 'SyncBatchNorm' for m in module.modules())


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for CPU processes: no ``device_ids``, SyncBN as BN.

    Each ``SyncBatchNorm`` becomes mmengine's ``BatchNormXd`` with the same weights
    and statistics (``mmengine.model.revert_sync_batchnorm``, what one process gets),
    with one log line saying how many: each process then normalises over its own
    batch. The tools select this wrapper for ``--launcher pytorch`` without CUDA.

    Args:
        module (nn.Module): The model.
        **kwargs: ``MMDistributedDataParallel``'s (``broadcast_buffers``,
            ``find_unused_parameters``, ...); ``device_ids`` must be None on CPU.
    """

    def __init__(self, module: nn.Module, **kwargs) -> None:
        count = count_sync_batchnorms(module)
        if count:
            module = revert_sync_batchnorm(module)
            print_log(f'CPU distributed training: {count} SyncBatchNorm layers reverted to '
                      'BatchNormXd (SyncBatchNorm needs CUDA), as mmengine does when it '
                      'trains in one process; each process normalises over its own batch.',
                      logger='current')
        kwargs['device_ids'] = None
        super().__init__(module=module, **kwargs)
