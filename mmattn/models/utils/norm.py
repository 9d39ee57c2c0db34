"""Norm layers that never see too few values: the one-value fallback of every module.

With one image per device, a norm inside an attention module can be asked
for statistics over a single value per channel: SK's BatchNorm on the pooled
``(1, C, 1, 1)`` descriptor at any input size, the norms of CBAM, CoT,
FullyAttention, ScaleAwareModulation, TripletAttention and ASFF on 1x1 maps.
The variance of one value is undefined and PyTorch raises ("Expected more
than 1 value per channel when training"). timm's SK crashes there too.

The rule, applied by :func:`norm_forward` to every norm call of every mmattn
module (and :func:`conv_module_forward` for mmcv ``ConvModule`` s):

    Where a norm would compute its statistics from one value (or none) per
    channel, it computes what it computes at inference, without updating
    anything. A BatchNorm (or an instance norm that tracks running
    statistics) normalises with its running statistics, exactly as in eval
    mode, and leaves them, ``num_batches_tracked`` included, unchanged for
    that call. A norm whose inference also uses the input's own statistics
    (GroupNorm, an instance norm without running statistics, a BatchNorm with
    ``track_running_stats=False``) gets them: the one value minus its own
    mean is 0, so the output is the norm's bias, as it is at inference.

Why the running statistics, rather than the degenerate batch statistics
(PyTorch's refusal bypassed) or skipping the norm: over one value the batch
statistics give ``x - mean(x) = 0``, so the attention gate behind the norm
would output a constant and learn nothing, and the unbiased variance update
divides by ``n - 1 = 0`` and would poison ``running_var`` with inf/nan for
every later eval. Skipping the norm changes the scale of everything behind
it. Normalising with the running statistics is the layer's inference-time
function, and the same as the "frozen BN" detectors already train with
(mmdet's ``norm_eval=True``): the train-time output is the one the deployed
model computes, and the gradient reaches the input and the affine
parameters. The statistics simply are not updated by a batch that has none.

Only the Python-side check of PyTorch is avoided: in every other case the
layer's own ``forward`` runs (SyncBatchNorm across processes included,
where the global batch may hold more than one value).
"""
import math

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm


def _synced_across_processes(norm: nn.Module) -> bool:
    """A SyncBatchNorm in training in a multi-process group: its statistics are global."""
    if not isinstance(norm, nn.SyncBatchNorm) or not norm.training:
        return False
    if not (dist.is_available() and dist.is_initialized()):
        return False
    return dist.get_world_size(norm.process_group or dist.group.WORLD) > 1


def _values_per_statistic(norm: nn.Module, x: Tensor) -> int:
    """How many values each of ``norm``'s input statistics would be computed from."""
    positions = math.prod(x.shape[2:])
    if isinstance(norm, _InstanceNorm):
        return positions  # per sample and channel
    return x.shape[0] * positions  # BatchNorm: per channel, over the batch and the positions


def _uses_input_statistics(norm: nn.Module) -> bool:
    if isinstance(norm, _InstanceNorm):
        return norm.training or not norm.track_running_stats
    return norm.training or norm.running_mean is None


def norm_forward(norm: nn.Module, x: Tensor) -> Tensor:
    """``norm(x)``, except where its statistics would see one value or none (see above).

    ``nn.GroupNorm`` is always computed through ``torch.group_norm``: the same
    result as the layer, minus the layer's refusal of groups of one value.
    Any other layer (LayerNorm, Identity after ``fuse_conv_bn``, a custom
    norm) is called as is.
    """
    if type(norm) is nn.GroupNorm:
        return torch.group_norm(x, norm.num_groups, norm.weight, norm.bias, norm.eps)
    if not isinstance(norm, (_BatchNorm, _InstanceNorm)) or not _uses_input_statistics(norm):
        return norm(x)
    if _synced_across_processes(norm) or _values_per_statistic(norm, x) > 1:
        return norm(x)
    if norm.running_mean is not None and norm.running_var is not None:
        # Inference-time normalisation; the buffers are read, never written.
        if isinstance(norm, _InstanceNorm):
            return F.instance_norm(x, norm.running_mean, norm.running_var, norm.weight,
                                   norm.bias, use_input_stats=False, eps=norm.eps)
        return F.batch_norm(x, norm.running_mean, norm.running_var, norm.weight, norm.bias,
                            training=False, eps=norm.eps)
    # No running statistics: the input's own, over its one value: x - mean(x) = 0.
    x_hat = torch.zeros_like(x)
    if norm.weight is None:
        return x_hat
    shape = (1, -1) + (1, ) * (x.dim() - 2)
    return x_hat * norm.weight.view(shape) + norm.bias.view(shape)


def conv_module_forward(module: ConvModule, x: Tensor) -> Tensor:
    """``module(x)`` for an mmcv ``ConvModule`` of order conv-norm-act, with its norm
    through :func:`norm_forward`."""
    if not module.with_norm:
        return module(x)
    assert module.order == ('conv', 'norm', 'act'), module.order  # built so by mmattn
    x = module(x, activate=False, norm=False)
    x = norm_forward(module.norm, x)
    return module.activate(x) if module.with_activation else x
