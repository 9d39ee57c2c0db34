"""Where modules go: the insertion points, stages, and each module's default place.

One home for the positions every layer names: ``--attention`` and the sweep
(:mod:`mmattn.config.derive`), the zoo (:mod:`mmattn.zoo`) and the converters use
:data:`BLOCK_POSITIONS` (inside ResNet blocks) and :data:`POSITIONS` (those and the
backbone's outputs and the neck's levels). A module's default place is a fact of its
class (:meth:`~mmattn.models.AttentionBase.placement`); :func:`paper_placements` reads
them from the registry, so a module added later has its place without a table to edit.

Stage 1 is skipped for the channel and spatial gates: mmdet's ResNet configs freeze it
(``frozen_stages=1``), so a module inserted there would stay at its initialisation;
mmdet's own GCNet configs skip it for the same reason. The self-attention modules of
DANet, FLANet and BoTNet sit on the last stage only, as in their papers (stride 32 in
detection; dilated, stride 8, in mmseg's D8 segmentors), after conv2: DANet and FLANet
attend over 512 channels, which their heads reach with a 3x3 reduction of the
2048-channel output, and conv2's width in stage 4 is 512. After conv3 they would work
on 2048 channels: DANetPAM's 1x1 value conv and FullyAttention's 3x3 conv would add
15.7 M and 138 M parameters to ResNet-50 instead of 1.0 M and 8.7 M.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

from mmattn.models import Placement, list_attention_modules
from mmattn.registry import ROOT_MODELS

Stages = Tuple[bool, ...]

#: Inside every chosen block of a ResNet-family backbone (BasicBlock: conv1 and conv2).
BLOCK_POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')
#: Every insertion point: the block positions, the backbone's outputs (through
#: ``AttentionBackbone``) and the neck's levels (``AttentionNeck``; a neck module such as
#: ASFF is appended to the neck).
POSITIONS = BLOCK_POSITIONS + ('after_stage', 'after_neck')
#: The block positions in words, for config comments and messages.
POSITION_WORDS = {
    'after_conv1': 'after conv1 (the 1x1 reduction)',
    'after_conv2': 'after conv2 (the 3x3 conv)',
    'after_conv3': 'after conv3 (the 1x1 expansion)',
}


def parse_stages(text: Union[str, Sequence[bool]], num_stages: Optional[int] = None) -> Stages:
    """``'0111'`` (one digit per stage) -> ``(False, True, True, True)``.

    ``num_stages`` checks the length; None accepts any non-empty length (the
    derivation checks it against the base).
    """
    if isinstance(text, str):
        if not text or set(text) - {'0', '1'}:
            raise ValueError(f'stages {text!r} must be digits 0/1, one per stage (e.g. '
                             '"0111" for stages 2-4 of 4)')
        stages = tuple(c == '1' for c in text)
    else:
        stages = tuple(bool(s) for s in text)
    if num_stages is not None and len(stages) != num_stages:
        raise ValueError(f'stages {text!r} must be {num_stages} digits 0/1, one per '
                         f'stage (e.g. "0111" for stages 2-{num_stages})')
    return stages


def describe_stages(stages: Sequence[bool]) -> str:
    """``(False, True, True, True)`` -> ``'stages 2-4'``; 1-based, as the papers count."""
    chosen = [i + 1 for i, on in enumerate(stages) if on]
    if not chosen:
        return 'no stage'
    if len(chosen) == 1:
        return f'stage {chosen[0]}'
    if chosen == list(range(chosen[0], chosen[-1] + 1)):
        return f'stages {chosen[0]}-{chosen[-1]}'
    return 'stages ' + ', '.join(map(str, chosen))


def describe_placement(module_type: str, position: str, stages: Sequence[bool],
                       block: str = 'bottleneck') -> str:
    """``'CBAM after conv3 (the 1x1 expansion) of every bottleneck in stages 2-4'``."""
    if block == 'bottleneck':
        where = POSITION_WORDS.get(position, position)
    else:
        where = position.replace('_', ' ')
    return f'{module_type} {where} of every {block} in {describe_stages(stages)}'


def paper_placements() -> Dict[str, Placement]:
    """Every registered 2D module with a default place, by type name: its paper's place."""
    return {name: place for name, cls in list_attention_modules().items()
            if (place := cls.placement()) is not None}


def placement_of(type_name: str) -> Optional[Placement]:
    """The default place of the module ``type_name`` names (``'SE'``, ``'mmattn.SE'``), or
    None for a type that has none (a module of another package, a sequence form)."""
    cls = ROOT_MODELS.get(type_name.split('.', 1)[1] if type_name.startswith('mmattn.')
                          else type_name)
    placement = getattr(cls, 'placement', None)
    return placement() if callable(placement) else None


__all__ = ['Stages', 'BLOCK_POSITIONS', 'POSITIONS', 'POSITION_WORDS', 'Placement',
           'parse_stages', 'describe_stages', 'describe_placement', 'paper_placements',
           'placement_of']
