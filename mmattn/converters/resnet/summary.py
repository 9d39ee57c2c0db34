"""Both sides in words: which modules sit where, for reports and refusals."""
from typing import Any, List, Sequence, Tuple

import torch.nn as nn

from mmattn.config import describe_stages
from ..layouts import SourceBlock, SourceNet
from .common import in_words
from .target import TargetBlock, TargetNet


def _module_layout(blocks: Sequence[Sequence[Any]], entries) -> List[Tuple[str, str, tuple]]:
    """``[(kind, position, stage mask)]``: which stages carry which modules in every block."""
    seen: List[Tuple[str, str]] = []
    for stage in blocks:
        for block in stage:
            for kind, position in entries(block):
                if (kind, position) not in seen:
                    seen.append((kind, position))
    layout = []
    for kind, position in seen:
        mask = tuple(all((kind, position) in entries(b) for b in stage) and len(stage) > 0
                     for stage in blocks)
        layout.append((kind, position, mask))
    return layout


def _source_entries(block: SourceBlock) -> List[Tuple[str, str]]:
    return [(m.kind, m.position) for m in block.modules]


def _target_entries(block: TargetBlock) -> List[Tuple[str, str]]:
    return [(_kind(m), p) for p, _, m in block.modules]


def _kind(module: nn.Module) -> str:
    return type(module).__name__


def _describe_layout(layout) -> str:
    if not layout:
        return 'no modules'
    parts = []
    for kind, position, mask in layout:
        where = describe_stages(mask) if any(mask) else 'some blocks'
        parts.append(f'{kind} {in_words(position)} in {where}')
    return ', '.join(parts)


def describe_source_modules(net: SourceNet) -> str:
    return _describe_layout(_module_layout(net.blocks, _source_entries))


def describe_target_modules(tgt: TargetNet) -> str:
    return _describe_layout(_module_layout(tgt.blocks, _target_entries))
