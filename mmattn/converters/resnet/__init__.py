"""ResNet checkpoints to mmdet/mmseg ResNet backbones: reading, checking, mapping.

Both sides are read into roles. A source checkpoint (torchvision naming, as
timm, mmpretrain and the official attention repositories keep it) becomes a
:class:`~mmattn.converters.layouts.SourceNet`: the stem's (conv, BN) pairs,
every Bottleneck's convs and BNs by role, its shortcut, and its attention
modules in mmattn's parameter names (the family's parsers do that). A
target backbone is *built* (from a config or from what the checkpoint
implies) and read the same way from its modules, so a file is written only
when it loads strictly, every tensor in its place, and only when the two
networks compute the same function: same blocks per stage, stem, shortcut,
stride placement, groups, BN epsilon, and the same modules at the same
positions with the same settings. Every difference is refused with one
sentence naming both sides.

The phases, one file each: :mod:`.source` (the checkpoint into roles), :mod:`.target` (the
backbone into roles), :mod:`.checks` (the same function, or a refusal), :mod:`.mapping`
(the tensors into the target's names), :mod:`.summary` (both sides in words) and
:mod:`.suggest` (the backbone a checkpoint implies).
"""
from .checks import check_compatible
from .common import BLOCK_KEY, BN_EPS, TRUNK_ROLES, fail
from .mapping import MappingResult, map_weights
from .source import parse_source
from .suggest import (arch_backbone, backbone_config, backbone_type, check_arch, matching_arch,
                      plugins_from_specs, suggest_backbone)
from .summary import describe_source_modules, describe_target_modules
from .target import TargetBlock, TargetNet, build_backbone, describe_target

__all__ = [
    'BLOCK_KEY',
    'BN_EPS',
    'MappingResult',
    'TRUNK_ROLES',
    'TargetBlock',
    'TargetNet',
    'arch_backbone',
    'backbone_config',
    'backbone_type',
    'build_backbone',
    'check_arch',
    'check_compatible',
    'describe_source_modules',
    'describe_target',
    'describe_target_modules',
    'fail',
    'map_weights',
    'matching_arch',
    'parse_source',
    'plugins_from_specs',
    'suggest_backbone'
]
