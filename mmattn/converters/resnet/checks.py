"""Whether the source and the target compute the same function.

Every difference is refused with one sentence naming both sides.
"""

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.config import BLOCK_POSITIONS
from mmattn.models.utils.identity_init import IdentityInit
from ..layouts import DEPTHS, STEM_WORDS, ModuleWeights, SourceNet
from ..modules import target_settings
from .common import BN_EPS, fail, in_words
from .summary import _kind, describe_source_modules, describe_target_modules
from .target import TargetNet


def _grouping(width: int, groups: int) -> str:
    if groups == 1:
        return f'ungrouped 3x3 convs ({width} channels in stage 1: a ResNet)'
    return (f'3x3 convs in {groups} groups of {width // groups} channels '
            f'(ResNeXt {groups}x{width // groups}d)')


def check_compatible(net: SourceNet, tgt: TargetNet) -> None:
    """Refuse, with one sentence naming both sides, what would not compute the source's function."""
    src, dst = net.name, tgt.name
    counts, tcounts = net.blocks_per_stage, tuple(len(s) for s in tgt.blocks)
    if counts != tcounts:
        depth = DEPTHS.get(counts)
        tdepth = getattr(tgt.backbone, 'depth', None)
        fail(f'{src} has {", ".join(map(str, counts))} blocks per stage'
             + (f' (ResNet-{depth})' if depth else '')
             + f', {dst} has {", ".join(map(str, tcounts))}'
             + (f' (depth={tdepth}, num_stages={len(tcounts)})' if tdepth else ''))
    if net.stem != tgt.stem:
        fail(f'{src} has {STEM_WORDS[net.stem]}, {dst} has {STEM_WORDS[tgt.stem]}: use '
             + ('ResNetV1c/ResNetV1d (mmseg), PluginResNetV1c/V1d or deep_stem=True'
                 if net.stem == 'deep' else
                 'ResNet, PluginResNet (mmdet) or PluginResNetV1b (mmseg)'))
    if net.avg_down != tgt.avg_down:
        words = {True: 'an average pool before the 1x1 conv (ResNet-D, avg_down=True)',
                 False: 'a strided 1x1 conv (avg_down=False)'}
        fail(f'{src} downsamples its shortcuts with {words[net.avg_down]}, {dst} with '
             f'{words[tgt.avg_down]}')
    style = getattr(tgt.backbone, 'style', 'pytorch')
    if style != 'pytorch':
        fail(f"{src} strides in the 3x3 conv (style='pytorch'), {dst} has style={style!r}, "
             'which strides in the first 1x1 conv')
    tconv2 = tgt.backbone.get_submodule(tgt.blocks[0][0].trunk['conv2'])
    if (net.width, net.groups) != (tconv2.out_channels, tconv2.groups):
        fail(f'{src} has {_grouping(net.width, net.groups)}, {dst} has '
             f'{_grouping(tconv2.out_channels, tconv2.groups)}')
    _check_norms(net, tgt)
    _check_modules(net, tgt)


def _check_norms(net: SourceNet, tgt: TargetNet) -> None:
    roles = [bn for _, bn in tgt.stem_pairs]
    roles += [path for stage in tgt.blocks for b in stage
              for role, path in b.trunk.items() if 'bn' in role]
    for path in roles:
        norm = tgt.backbone.get_submodule(path)
        if not isinstance(norm, _BatchNorm):
            fail(f'{tgt.name} normalises {path} with {type(norm).__name__} (norm_cfg); '
                 f"{net.name}'s BatchNorm statistics have no place there: use BN or SyncBN")
        if norm.eps != BN_EPS:
            fail(f'{tgt.name} has {path} with eps={norm.eps}; {net.name} was trained with '
                 f'BatchNorm eps={BN_EPS}')


def _check_modules(net: SourceNet, tgt: TargetNet) -> None:
    src, dst = net.name, tgt.name
    for sstage, tstage in zip(net.blocks, tgt.blocks):
        for sb, tb in zip(sstage, tstage):
            for position in BLOCK_POSITIONS:
                s = [m for m in sb.modules if m.position == position]
                t = [(path, m) for p, path, m in tb.modules if p == position]
                where = f'{in_words(position)} in {sb.name}'
                for (path, module) in t:
                    if isinstance(module, IdentityInit):
                        fail(f'{dst} wraps its {_kind(module.module)} {where} in '
                             f'IdentityInit (identity_init=True), which starts it as the '
                             f'identity; the {_kind(module.module)} of {src} must compute '
                             'what it was trained to: set identity_init=False')
                skinds, tkinds = [m.kind for m in s], [_kind(m) for _, m in t]
                if skinds == tkinds:
                    for sm, (path, module) in zip(s, t):
                        _check_settings(sm, module, path, src, dst)
                    continue
                if not tkinds:
                    fail(f'{src} has {" + ".join(skinds)} {where} '
                         f'({describe_source_modules(net)}), where {dst} has no module '
                         f'({describe_target_modules(tgt)})')
                if not skinds:
                    fail(f'{dst} has {" + ".join(tkinds)} {where}, a position where {src} '
                         f'has no module (it has {describe_source_modules(net)})')
                fail(f'{where}, {src} has {" + ".join(skinds)} and {dst} has '
                     f'{" + ".join(tkinds)}')


def _check_settings(sm: ModuleWeights, module: nn.Module, path: str, src: str,
                    dst: str) -> None:
    have = target_settings(sm.kind, module)
    for key, value in sm.settings.items():
        if key in have and have[key] != value:
            fail(f'the {sm.kind} of {src} computes with {key}={value!r}, {dst} has '
                 f'{key}={have[key]!r} in {path}')
