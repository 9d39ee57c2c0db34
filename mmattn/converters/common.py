"""Helpers the family parsers share: renaming a module's tensors, refusing unknown ones."""
from typing import Callable, Dict, Iterable, Optional, Tuple

from torch import Tensor

from .layouts import ModuleWeights

BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def rename(prefix: str, tensors: Dict[str, Tensor], kind: str, position: str,
           rules: Iterable[Tuple[str, str, Optional[Callable[[Tensor], Tensor]]]],
           family_title: str, layout: str) -> ModuleWeights:
    """Move ``tensors`` (source names relative to the module) to mmattn names.

    ``rules`` are ``(source name, mmattn name, transform or None)``; a source
    name absent from ``tensors`` is skipped (the caller checks what must be
    there), and a tensor no rule takes is refused as an unknown layout.
    """
    out, keys, taken = {}, {}, set()
    for src, dst, fn in rules:
        if src in tensors:
            out[dst] = fn(tensors[src]) if fn is not None else tensors[src]
            keys[dst] = src
            taken.add(src)
    rest = sorted(set(tensors) - taken)
    if rest:
        raise ValueError(f'converter: {prefix}.{rest[0]} is not part of {family_title}\'s '
                         f'{layout}, so this is not a layout the converter knows')
    return ModuleWeights(kind=kind, position=position, tensors=out, source_keys=keys)


def bn_rules(src: str, dst: str):
    """Rules for every tensor of a BatchNorm."""
    return [(f'{src}.{k}', f'{dst}.{k}', None) for k in BN_KEYS]


def require(prefix: str, tensors: Dict[str, Tensor], names: Iterable[str], what: str) -> None:
    """Refuse a module missing a tensor its layout must have."""
    for name in names:
        if name not in tensors:
            raise ValueError(f'converter: {prefix} has no {name}: it is not {what}, so this is '
                             'not a layout the converter knows')


def make_divisible(value: float, divisor: int = 8, min_value: Optional[int] = None,
                   min_ratio: float = 0.9) -> int:
    """Round to a multiple of ``divisor``, never below ``min_ratio`` of ``value``.

    The rule of timm's and mmpretrain's channel rounding (timm calls the
    ratio ``round_limit`` and uses 0 for SE, mmpretrain 0.9).
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < min_ratio * value:
        new += divisor
    return new
