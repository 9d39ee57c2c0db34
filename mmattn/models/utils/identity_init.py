"""Identity initialisation: a freshly inserted module starts as the identity.

A zero-initialised residual scale, as in ReZero (Bachlechner et al., "ReZero is
All You Need: Fast Convergence at Large Depth", https://arxiv.org/abs/2003.04887)
and the zero-init of the last BN of a residual block (Goyal et al.,
https://arxiv.org/abs/1706.02677): ``y = x + s * (m(x) - x)`` with a learnable
scalar ``s = 0`` at iteration 0. Inserting ``m`` into an ImageNet-pretrained
network then leaves its outputs unchanged at the start of fine-tuning, and ``s``
learns how much of ``m`` to use.
"""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from .lookup import build_module


@ROOT_MODELS.register_module()
class IdentityInit(BaseModule):
    """Wrap a shape-preserving module so that it starts as the identity.

    ``forward(x) = x + s * (module(x) - x)``, with ``s`` a learnable scalar
    (``scale``) set to 0 at initialisation. At ``s = 0`` the output equals the
    input exactly; at ``s = 1`` it is ``module(x)``. The zero is set in
    ``__init__`` and again in ``init_weights()``, so neither a parent's
    ``init_cfg`` (ResNet's Kaiming/Constant) nor a ``Pretrained`` checkpoint
    without this module changes it.

    It is also a plugin for mmdet's/mmseg's stock ResNet (``build_plugin_layer``
    passes ``in_channels``)::

        plugins=[dict(cfg=dict(type='IdentityInit', module=dict(type='SE')),
                      position='after_conv3')]

    There the layer is named ``identity_init`` (plus the cfg's ``postfix``);
    mmattn's own insertion points (``PluginResNet``'s ``identity_init=True``,
    ``AttentionBackbone``, ``AttentionNeck``) keep the wrapped module's name.

    Args:
        in_channels (int, optional): Channels of the input; passed on to
            ``module`` when it is a config. Default: None (the config is used
            as given).
        module (dict | nn.Module): The module to wrap, or its config. Its
            output must have the shape and dtype of its input.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config. Default: None.
    """

    _abbr_ = 'identity_init'

    def __init__(self,
                 in_channels: Optional[int] = None,
                 module: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(module, nn.Module):
            self.module = module
        elif isinstance(module, dict):
            cfg = dict(module)
            if in_channels is not None:
                if cfg.get('in_channels', in_channels) != in_channels:
                    raise ValueError(
                        f'IdentityInit: module in_channels={cfg["in_channels"]} differs '
                        f'from in_channels={in_channels} given to the wrapper')
                cfg['in_channels'] = in_channels
            self.module = build_module('IdentityInit', cfg, 'module')
        else:
            raise TypeError('IdentityInit: module must be a config dict or an nn.Module, '
                            f'got {type(module).__name__}')
        self.in_channels = in_channels
        self.scale = nn.Parameter(torch.zeros(()))
        self._init_identity()

    def _init_identity(self) -> None:
        with torch.no_grad():
            self.scale.zero_()

    def init_weights(self) -> None:
        super().init_weights()
        self._init_identity()

    def forward(self, x: Tensor) -> Tensor:
        y = self.module(x)
        # The residual form needs y shaped as x; broadcasting would hide a wrong module.
        # Only Python sizes are compared: free, and invisible to trace/export graphs.
        if not isinstance(y, Tensor) or y.shape != x.shape:
            got = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
            raise ValueError(
                f'IdentityInit: the wrapped {type(self.module).__name__} must return a tensor '
                f'of its input\'s shape {tuple(x.shape)} (y = x + s * (module(x) - x)), '
                f'got {got}')
        # The cast keeps the output in the input's dtype under autocast/bf16.
        return x + self.scale.to(x.dtype) * (y - x)
