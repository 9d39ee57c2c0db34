"""What the converters know about mmattn's modules: their arguments as seen in weights.

A converted module's tensors are in mmattn's parameter names. From them (and
the channel count at the module's position) :func:`module_args` reads what
the shapes fix (a hidden width, a kernel size, whether a norm or a bias is
there); :func:`config_args` turns that into the module's config arguments,
leaving out the module's defaults (its constructor's); :func:`target_settings`
reads from a built module what the shapes do not show (activations, gates,
SCSA's heads and window), to compare with what the source trained with.
"""
from typing import Any, Dict, Tuple

import torch.nn as nn
from torch import Tensor

from mmattn.models import list_attention_modules

#: SCSA's arguments that show in no tensor: read from the checkpoint's training config.
SCSA_SETTINGS = ('head_num', 'window_size', 'down_sample_mode', 'gate_layer', 'attn_drop_ratio')


def module_args(kind: str, tensors: Dict[str, Tensor]) -> Dict[str, Any]:
    """What the tensors (mmattn names, relative to the module) fix about a module."""
    if kind == 'SE':
        return dict(hidden=tensors['fc1.weight'].shape[0], bias='fc1.bias' in tensors)
    if kind == 'ECA':
        return dict(kernel_size=tensors['conv.weight'].shape[-1])
    if kind == 'CBAM':
        return dict(hidden=tensors['fc1.weight'].shape[0],
                    kernel_size=tensors['spatial_conv.weight'].shape[-1],
                    norm='spatial_norm.weight' in tensors)
    if kind == 'TripletAttention':
        return dict(kernel_size=tensors['cw.conv.weight'].shape[-1],
                    no_spatial='hw.conv.weight' not in tensors,
                    norm='cw.bn.weight' in tensors)
    if kind == 'SCSA':
        names = ('local_dwc', 'global_dwc_s', 'global_dwc_m', 'global_dwc_l')
        return dict(group_kernel_sizes=tuple(tensors[f'{n}.weight'].shape[-1] for n in names),
                    qkv_bias='q.bias' in tensors)
    return {}


def describe_args(kind: str, tensors: Dict[str, Tensor]) -> str:
    """``'hidden width 16, with biases'``-like words for messages."""
    args = module_args(kind, tensors)
    return ', '.join(f'{k}={v}' for k, v in args.items())


def _reduction(owner: str, channels: int, hidden: int) -> int:
    reduction = max(channels // hidden, 1)
    if channels // reduction != hidden:
        raise ValueError(
            f'converter: a {owner} with hidden width {hidden} at {channels} channels has no '
            f'mmattn equivalent: its hidden width is in_channels // reduction, and no '
            f'reduction gives {hidden}')
    return reduction


def config_args(kind: str, args: Dict[str, Any], channels: int,
                settings: Dict[str, Any]) -> Dict[str, Any]:
    """The mmattn config arguments of a module with ``args`` at ``channels``: those that
    differ from the module's defaults, read from its constructor (one home per default)."""
    values: Dict[str, Any] = {}
    if kind in ('SE', 'CBAM'):
        values['reduction'] = _reduction(kind, channels, args['hidden'])
    if kind == 'SE':
        values['bias'] = args['bias']
    if kind in ('CBAM', 'TripletAttention'):
        values['kernel_size'] = args['kernel_size']
        if not args['norm']:
            values['norm_cfg'] = None
    if kind == 'TripletAttention':
        values['no_spatial'] = args['no_spatial']
    if kind == 'SCSA':
        values.update((name, settings[name]) for name in SCSA_SETTINGS if name in settings)
        values.update(group_kernel_sizes=args['group_kernel_sizes'], qkv_bias=args['qkv_bias'])
    defaults = list_attention_modules()[kind].defaults()
    cfg = {k: v for k, v in values.items() if k not in defaults or v != defaults[k]}
    if kind == 'ECA':
        # Always explicit: a checkpoint's kernels are fixed, whatever rule made them.
        cfg['kernel_size'] = args['kernel_size']
    return cfg


def _name(module: nn.Module) -> str:
    return type(module).__name__


def target_settings(kind: str, module: nn.Module) -> Dict[str, Any]:
    """What a built mmattn module computes beyond its tensor shapes."""
    if kind == 'SE':
        return dict(act=_name(module.act), gate=_name(module.gate))
    if kind == 'ECA':
        return dict(gate=_name(module.gate))
    if kind == 'CBAM':
        return dict(act=_name(module.act), channel_gate=_name(module.channel_gate),
                    spatial_gate=_name(module.spatial_gate))
    if kind == 'TripletAttention':
        return dict(gate=_name(module.gate))
    if kind == 'SCSA':
        return dict(head_num=module.head_num, window_size=module.window_size,
                    down_sample_mode=module.down_sample_mode,
                    gate_layer='softmax' if isinstance(module.sa_gate, nn.Softmax)
                    else 'sigmoid',
                    attn_drop_ratio=module.attn_drop.p)
    return {}


def sort_key(item: Tuple[str, Any]) -> Tuple[int, str]:
    order = ('reduction', 'bias', 'kernel_size', 'no_spatial', 'norm_cfg', 'head_num',
             'window_size', 'group_kernel_sizes', 'qkv_bias', 'down_sample_mode', 'gate_layer',
             'attn_drop_ratio')
    return (order.index(item[0]) if item[0] in order else len(order), item[0])
