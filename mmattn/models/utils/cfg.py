"""Config checks: every act_cfg, gate_cfg, norm_cfg and conv_cfg is built once at construction.

A config's type is looked up first (:func:`~.lookup.lookup_type`: an unknown
type is named with the closest registered names), then the config is tried
with mmcv's own builder, so whatever the registries know (mmcv's, mmdet's,
mmseg's, custom ones) is accepted, and whatever they refuse (a missing
``num_groups``, a wrong keyword) turns into one sentence naming the module,
the argument, the value and what is allowed, instead of a ``KeyError`` or an
``AssertionError`` from deep inside the builder, or an error at the first
forward.

Norms are also tried on a small tensor laid out as the module will feed them
(:data:`NORM_LAYOUTS`): a norm that cannot take that layout (``LN`` over a
feature map, ``BN1d`` on a 4D map, ``BN`` on a 3D profile) or that erases its
input there (an instance norm, or a GroupNorm of one channel per group, on a
``(B, C, 1, 1)`` descriptor: each statistic is over one value, so the output
is its bias whatever the input) is refused at construction.
"""
import copy
import warnings
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer

from .lookup import lookup_type

#: How a norm's input is laid out, for each place a module applies one:
#: the probe's shape (batch 2) and what the place is called in a message.
NORM_LAYOUTS: Dict[str, Tuple[Tuple[int, ...], str]] = {
    # A feature map (B, C, H, W); the probe is 2x1, so that a LayerNorm over the
    # last dim (W) does not fit by accident, and an instance norm sees 2 values.
    'map': ((2, 1), 'feature maps (B, C, H, W)'),
    # A pooled descriptor (B, C, 1, 1): one value per channel and sample.
    'vector': ((1, 1), 'pooled descriptors (B, C, 1, 1)'),
    # A profile (B, C, L), e.g. a map averaged over one axis.
    'profile': ((2, ), 'profiles (B, C, L)'),
    # Features (B, C).
    'features': ((), 'feature vectors (B, C)'),
}


def _on_cpu() -> torch.device:
    """The probes run on CPU whatever the default device (a model may be built under
    ``torch.device('meta')``, where nothing can be compared)."""
    return torch.device('cpu')


def _cfg_type_error(module: str, name: str, cfg: object, example: str) -> TypeError:
    return TypeError(f'{module}: {name} must be a config dict such as {example}, '
                     f'got {cfg!r} of type {type(cfg).__name__}')


def _none_error(module: str, name: str, what: str, example: str) -> TypeError:
    return TypeError(f'{module}: {name}=None is not allowed: the module needs {what}; '
                     f'give a config dict such as {example}')


def _is_given(module: str, name: str, cfg: object, allow_none: bool, what: str,
              example: str) -> bool:
    """False for an allowed None; True for a config dict whose type is registered.

    Raises the TypeError of a None that is not allowed or of anything but a dict, and
    :func:`lookup_type`'s error (the closest registered names) for an unknown type.
    """
    if cfg is None:
        if allow_none:
            return False
        raise _none_error(module, name, what, example)
    if not isinstance(cfg, dict):
        raise _cfg_type_error(module, name, cfg, example)
    lookup_type(module, cfg, name)
    return True


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ''
    return f'{type(error).__name__}: {text}' if text else type(error).__name__


def check_act_cfg(module: str, name: str, cfg: object, allow_none: bool = False,
                  example: str = "dict(type='ReLU')") -> Optional[dict]:
    """Check an activation config by building it; return a copy (or None).

    Raises:
        TypeError: ``cfg`` is not a dict (or is None where None is not a choice).
        ValueError: mmcv's builder cannot build it, or the layer does not map a
            tensor to one of the same shape.
    """
    if not _is_given(module, name, cfg, allow_none, 'an activation', example):
        return None
    try:
        with _on_cpu():
            layer = build_activation_layer(copy.deepcopy(cfg))
            probe = torch.linspace(-2, 2, 12).view(1, 3, 2, 2)
            out = layer(probe)
    except Exception as error:
        raise ValueError(f'{module}: {name}={cfg!r} cannot be built into an activation '
                         f'({_reason(error)}); give an activation config such as '
                         f'{example}') from error
    if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
        raise ValueError(f'{module}: {name}={cfg!r} does not build an element-wise '
                         f'activation (a (1, 3, 2, 2) input gave '
                         f'{getattr(out, "shape", type(out).__name__)}); give an '
                         f'activation config such as {example}')
    return copy.deepcopy(cfg)


def build_act(module: str, name: str, cfg: object, example: str = "dict(type='ReLU')"
              ) -> nn.Module:
    """The activation layer of ``cfg`` (checked with :func:`check_act_cfg`)."""
    return build_activation_layer(check_act_cfg(module, name, cfg, example=example))


def check_norm_cfg(module: str, name: str, cfg: object, num_features: int,
                   layout: str = 'map', allow_none: bool = False,
                   example: str = "dict(type='BN')") -> Optional[dict]:
    """Check a norm config by building it for ``num_features`` and trying it on ``layout``.

    ``layout`` is a key of :data:`NORM_LAYOUTS`. Returns a copy of ``cfg`` (or
    None where None is allowed).

    Raises:
        TypeError: ``cfg`` is not a dict (or is None where None is not a choice).
        ValueError: mmcv cannot build it for ``num_features`` channels (an
            unknown type, GroupNorm groups that do not divide the channels),
            the layer cannot normalise inputs of ``layout`` (it raises or warns
            on them), or its output there does not depend on its input.
    """
    if not _is_given(module, name, cfg, allow_none, 'a norm', example):
        return None
    spatial, where = NORM_LAYOUTS[layout]
    allowed = (f'give a norm config that normalises {num_features}-channel {where}, '
               f'such as {example}')
    try:
        with _on_cpu():
            layer = build_norm_layer(copy.deepcopy(cfg), num_features)[1]
    except Exception as error:
        raise ValueError(f'{module}: {name}={cfg!r} cannot be built for {num_features} '
                         f'channels ({_reason(error)}); {allowed}') from error
    shape = (2, num_features) + spatial
    # A probe and its negation: any statistic over two or more values tells them apart
    # (a normalised pair flips sign), a statistic over one value does not (both give the
    # norm's bias).
    probe = torch.randn(shape, generator=torch.Generator().manual_seed(0), device='cpu')
    probes = [probe, -probe]
    layer.eval()  # the probe must not move running statistics
    try:
        with _on_cpu(), torch.no_grad(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            outs = [layer(p) for p in probes]
    except Exception as error:
        raise ValueError(f'{module}: {name}={cfg!r} cannot normalise the module\'s '
                         f'{where} ({_reason(error)}); {allowed}') from error
    # A norm that takes the layout for another one (InstanceNorm2d reads a 3D
    # profile as one unbatched image) only warns: a wrong result, refused too.
    misread = [w for w in caught if issubclass(w.category, UserWarning)]
    if misread:
        raise ValueError(f'{module}: {name}={cfg!r} misreads the module\'s {where} '
                         f'({misread[0].message}); {allowed}')
    if any(not isinstance(o, torch.Tensor) or o.shape != shape for o in outs):
        raise ValueError(f'{module}: {name}={cfg!r} does not keep the shape of the '
                         f'module\'s {where}; {allowed}')
    # (GroupNorm's kernel leaves rounding noise of ~1e-4 on a single value's 0.)
    if torch.allclose(outs[0], outs[1], rtol=0, atol=1e-2):
        raise ValueError(f'{module}: {name}={cfg!r} erases the module\'s {where}: each of '
                         'its statistics is over one value, so its output is the same for '
                         f'every input; {allowed}')
    return copy.deepcopy(cfg)


def build_norm(module: str, name: str, cfg: object, num_features: int, layout: str = 'map',
               example: str = "dict(type='BN')") -> nn.Module:
    """The norm layer of ``cfg`` for ``num_features`` (checked with :func:`check_norm_cfg`)."""
    cfg = check_norm_cfg(module, name, cfg, num_features, layout, example=example)
    return build_norm_layer(cfg, num_features)[1]


def check_conv_cfg(module: str, name: str, cfg: object) -> Optional[dict]:
    """Check a conv config (None means ``nn.Conv2d``) by building a small conv with it.

    Raises:
        TypeError: ``cfg`` is neither None nor a dict.
        ValueError: mmcv cannot build a 2D convolution from it.
    """
    example = "dict(type='Conv2d')"
    if not _is_given(module, name, cfg, True, 'a convolution', example):
        return None
    try:
        with _on_cpu(), torch.no_grad():
            layer = build_conv_layer(copy.deepcopy(cfg), 2, 2, 3, padding=1)
            out = layer(torch.zeros(1, 2, 3, 3))
        if out.shape != (1, 2, 3, 3):
            raise ValueError(f'a (1, 2, 3, 3) input gave {tuple(out.shape)}')
    except Exception as error:
        raise ValueError(f'{module}: {name}={cfg!r} cannot be built into a 2D convolution '
                         f'({_reason(error)}); give None or a conv config such as '
                         f'{example}') from error
    return copy.deepcopy(cfg)
