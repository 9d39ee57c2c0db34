"""Attention modules on the stage outputs of any registered backbone.

Backbones without ``plugins=`` (Swin, ConvNeXt, CSPDarknet, CSPNeXt, ...) take
a module where their stages hand features to the neck: ``AttentionBackbone``
builds the backbone from its config and applies the modules to the chosen
outputs.
"""
import inspect
from typing import List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import check_positive_int, lookup_type
from ..utils.plugins import as_cfg_list, build_plugin_sequence


def _takes_pretrained(cls: type) -> bool:
    """Whether ``cls(pretrained=...)`` reaches an ``__init__`` that names it."""
    for klass in getattr(cls, '__mro__', ()):
        if '__init__' not in vars(klass):
            continue
        params = inspect.signature(vars(klass)['__init__']).parameters
        if 'pretrained' in params:
            return True
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return False
    return False


@ROOT_MODELS.register_module()
class AttentionBackbone(BaseModule):
    """Any backbone, with attention modules on chosen outputs.

    ``forward(x)`` returns the backbone's outputs with ``attentions`` applied,
    in list order, to the outputs at ``indices``; the others pass unchanged.
    The backbone keeps its own ``init_cfg`` (``Pretrained`` included), its
    ``train()``/``norm_eval``/``frozen_stages`` behaviour, and its parameter
    names under ``backbone.``; a checkpoint of the same detector without the
    wrapper (``load_from``) also loads: its backbone keys are moved under
    ``backbone.``, and the modules are reported missing.

    Example::

        backbone=dict(
            type='AttentionBackbone',
            backbone=dict(type='SwinTransformer', embed_dims=96, ...),
            in_channels=[96, 192, 384, 768],
            attentions=[dict(type='CBAM')],
            indices=(1, 2, 3),
            identity_init=True)

    Args:
        backbone (dict): Config of the backbone (any registered type).
        in_channels (Sequence[int]): Channels of every output of the backbone,
            in order (the list the neck's ``in_channels`` takes). Checked at
            forward: a mismatch raises ``ValueError``.
        attentions (dict | list[dict]): Module configs, built with
            ``in_channels`` of their output and applied in order. Two of one
            type need a distinct ``postfix``.
        indices (Sequence[int], optional): Which outputs (positions in the
            backbone's output tuple) get the modules. Default: all.
        identity_init (bool): Wrap each module in ``IdentityInit`` so that the
            outputs equal the backbone's at initialisation. Default: False.
        pretrained (str, optional): A checkpoint of the wrapped backbone, as
            mmseg's backbones take it (mmseg's segmentors pass their
            ``model.pretrained`` here): handed to the backbone as its own
            ``pretrained`` when its class takes one (mmseg's backbones convert
            their checkpoints' keys there), else as its ``init_cfg=dict(
            type='Pretrained', checkpoint=pretrained)``. Default: None.
        init_cfg (dict or list[dict], optional): mmengine initialization
            config of the wrapper. Default: None.
    """

    def __init__(self,
                 backbone: dict,
                 in_channels: Sequence[int],
                 attentions: Union[dict, Sequence[dict]],
                 indices: Optional[Sequence[int]] = None,
                 identity_init: bool = False,
                 pretrained: Optional[str] = None,
                 init_cfg: Optional[Union[dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not isinstance(backbone, dict):
            raise TypeError(f'AttentionBackbone: backbone must be a config dict, got '
                            f'{type(backbone).__name__}')
        backbone_cls = lookup_type('AttentionBackbone', backbone, 'backbone')
        if pretrained is not None:
            backbone = self._with_pretrained(backbone, backbone_cls, pretrained)
        if isinstance(in_channels, int) or not isinstance(in_channels, (list, tuple)) \
                or not in_channels:
            raise TypeError('AttentionBackbone: in_channels must list the channels of every '
                            f'backbone output, got {in_channels!r}')
        self.in_channels = [
            check_positive_int('AttentionBackbone', 'in_channels[i]', c) for c in in_channels]
        num_outs = len(self.in_channels)
        if indices is None:
            indices = range(num_outs)
        indices = list(indices)
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < num_outs:
                raise ValueError(f'AttentionBackbone: index {i!r} in indices={indices} must '
                                 f'be in [0, {num_outs}), one of the {num_outs} outputs '
                                 'of in_channels')
        if len(set(indices)) != len(indices):
            raise ValueError(f'AttentionBackbone: indices={indices} repeats an output')
        self.indices = tuple(sorted(indices))
        cfgs = as_cfg_list('AttentionBackbone', 'attentions', attentions)
        self.backbone = ROOT_MODELS.build(backbone)
        self.attentions = nn.ModuleList([
            build_plugin_sequence('AttentionBackbone', cfgs, c, identity_init)
            if i in self.indices else nn.Identity()
            for i, c in enumerate(self.in_channels)])
        self._register_load_state_dict_pre_hook(self._load_unwrapped_checkpoint)

    @staticmethod
    def _with_pretrained(backbone: dict, backbone_cls: type, pretrained: str) -> dict:
        if not isinstance(pretrained, str):
            raise TypeError(f'AttentionBackbone: pretrained must be a checkpoint path or URL, '
                            f'got {pretrained!r}')
        for key in ('pretrained', 'init_cfg'):
            if backbone.get(key) is not None:
                raise ValueError(
                    f'AttentionBackbone: pretrained={pretrained!r} and the wrapped '
                    f"backbone's {key}={backbone[key]!r} both name its weights: keep one "
                    '(an mmseg config sets model.pretrained, which reaches the wrapper)')
        backbone = dict(backbone)
        if _takes_pretrained(backbone_cls):
            backbone['pretrained'] = pretrained
        else:
            backbone['init_cfg'] = dict(type='Pretrained', checkpoint=pretrained)
        return backbone

    def _load_unwrapped_checkpoint(self, state_dict: dict, prefix: str, *args) -> None:
        # Keys of the bare backbone (a detector trained without the wrapper).
        inner = (prefix + 'backbone.', prefix + 'attentions.')
        for key in list(state_dict):
            if key.startswith(prefix) and not key.startswith(inner):
                state_dict[prefix + 'backbone.' + key[len(prefix):]] = state_dict.pop(key)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        outs: List[Tensor] = list(self.backbone(x))
        if len(outs) != len(self.in_channels):
            raise ValueError(
                f'AttentionBackbone: {type(self.backbone).__name__} returned {len(outs)} '
                f'outputs, in_channels={self.in_channels} lists {len(self.in_channels)}')
        for i in self.indices:
            if outs[i].dim() != 4 or outs[i].shape[1] != self.in_channels[i]:
                raise ValueError(
                    f'AttentionBackbone: output {i} of {type(self.backbone).__name__} has '
                    f'shape {tuple(outs[i].shape)}, expected (B, in_channels[{i}]='
                    f'{self.in_channels[i]}, H, W)')
            outs[i] = self.attentions[i](outs[i])
        return tuple(outs)
