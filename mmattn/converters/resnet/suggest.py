"""The backbone config a checkpoint implies, and the architecture tables' checks."""
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..layouts import DEPTHS, STEM_WORDS, SourceArch, SourceNet
from ..modules import config_args, module_args, sort_key
from .checks import _grouping
from .common import fail, in_words


def _stage_specs(per_stage_blocks: Sequence[Sequence[List[Tuple[str, str, dict]]]],
                 source: str) -> List[List[Tuple[str, str, tuple]]]:
    """Per stage, the (kind, position, cfg args) every block of it has; refuse if they differ."""
    specs = []
    for s, stage in enumerate(per_stage_blocks):
        frozen = [[(k, p, tuple(sorted(a.items(), key=sort_key))) for k, p, a in block]
                  for block in stage]
        if any(f != frozen[0] for f in frozen):
            fail(f'{source} has different modules or module arguments in the blocks of '
                 f'stage {s + 1}, which per-stage plugins cannot express')
        specs.append(frozen[0] if frozen else [])
    return specs


def plugins_from_specs(specs: List[List[Tuple[str, str, tuple]]]) -> List[dict]:
    """mmdet ``plugins`` entries, one per distinct (kind, position, args), with stage masks."""
    entries: List[Tuple[str, str, tuple]] = []
    for stage in specs:
        for spec in stage:
            if spec not in entries:
                entries.append(spec)
    plugins = []
    for entry in entries:
        kind, position, args = entry
        mask = tuple(entry in stage for stage in specs)
        plugins.append(dict(cfg=dict(type=kind, **dict(args)), stages=mask, position=position))
    return plugins


def backbone_type(task: str, stem: str, avg_down: bool, groups: int) -> Tuple[str, str]:
    """``(scope, type)`` of the backbone a det/seg config uses for this stem and shortcut."""
    if task not in ('det', 'seg'):
        fail(f"task={task!r} must be 'det' or 'seg'")
    scope = 'mmdet' if task == 'det' else 'mmseg'
    if groups > 1:
        return scope, 'ResNeXt'
    if task == 'det':
        return scope, 'PluginResNet'
    if stem == 'plain':
        if avg_down:
            fail('a plain stem with an average-pool shortcut has no mmseg backbone class; '
                 'use PluginResNetV1b with avg_down=True')
        return scope, 'PluginResNetV1b'
    return scope, 'PluginResNetV1d' if avg_down else 'PluginResNetV1c'


def backbone_config(task: str, depth: int, stem: str, avg_down: bool, groups: int,
                    base_width: int, plugins: List[dict]) -> Tuple[str, dict]:
    """``(scope, backbone cfg)`` computing what a source with these properties computes."""
    scope, type_ = backbone_type(task, stem, avg_down, groups)
    cfg: Dict[str, Any] = dict(type=type_, depth=depth)
    if type_ == 'ResNeXt':
        cfg.update(groups=groups, base_width=base_width)
    if type_ in ('PluginResNet', 'ResNeXt'):
        if stem == 'deep':
            cfg['deep_stem'] = True
        if avg_down:
            cfg['avg_down'] = True
    cfg['plugins'] = plugins
    return scope, cfg


def suggest_backbone(net: SourceNet, task: str = 'det') -> Tuple[str, dict]:
    """The backbone config (and its scope) whose function the checkpoint's weights give."""
    if net.depth is None:
        fail(f'{net.name} has {", ".join(map(str, net.blocks_per_stage))} blocks per stage, '
             f'no ResNet depth mmdet and mmseg build ({", ".join(map(str, DEPTHS.values()))})')
    per_stage = []
    for s, stage in enumerate(net.blocks):
        per_stage.append([[(m.kind, m.position,
                            config_args(m.kind, module_args(m.kind, m.tensors),
                                        _channels(m.position, s, net.width), m.settings))
                           for m in block.modules] for block in stage])
    plugins = plugins_from_specs(_stage_specs(per_stage, net.name))
    base_width = net.width // net.groups
    return backbone_config(task, net.depth, net.stem, net.avg_down, net.groups, base_width,
                           plugins)


def _channels(position: str, stage: int, width: int) -> int:
    if position == 'after_conv3':
        return 256 * 2**stage
    return width * 2**stage


def arch_backbone(arch: SourceArch, task: str = 'det') -> Tuple[str, dict]:
    """The backbone config of a published architecture (what its checkpoints convert into)."""
    specs = []
    width = arch.base_width * arch.groups
    for s in range(len(arch.layers)):
        if arch.module is None:
            specs.append([])
            continue
        args = config_args(arch.module, arch.stage_args[s],
                           _channels(arch.position, s, width), arch.settings)
        specs.append([(arch.module, arch.position, tuple(sorted(args.items(), key=sort_key)))])
    return backbone_config(task, arch.depth, arch.stem, arch.avg_down, arch.groups,
                           arch.base_width, plugins_from_specs(specs))


def check_arch(net: SourceNet, arch: SourceArch) -> None:
    """Refuse a checkpoint that is not the architecture the user named."""
    label = f'{net.family.name} {arch.name}'
    has = []
    if net.blocks_per_stage != tuple(arch.layers):
        has.append((f'{", ".join(map(str, net.blocks_per_stage))} blocks per stage',
                    f'{", ".join(map(str, arch.layers))}'))
    if net.stem != arch.stem:
        has.append((STEM_WORDS[net.stem], STEM_WORDS[arch.stem]))
    if net.avg_down != arch.avg_down:
        has.append(('average-pool shortcuts' if net.avg_down else 'strided-conv shortcuts',
                    'average-pool shortcuts' if arch.avg_down else 'strided-conv shortcuts'))
    width = arch.base_width * arch.groups
    if (net.groups, net.width) != (arch.groups, width):
        has.append((_grouping(net.width, net.groups), _grouping(width, arch.groups)))
    kinds = sorted({m.kind for stage in net.blocks for b in stage for m in b.modules})
    want = [arch.module] if arch.module else []
    if kinds != want:
        has.append((' + '.join(kinds) or 'no attention module',
                    arch.module or 'no attention module'))
    elif arch.module and not has:
        where = f'{arch.module} {in_words(arch.position)}'
        for s, stage in enumerate(net.blocks):
            for block in stage:
                found = [(m.position, module_args(m.kind, m.tensors)) for m in block.modules]
                expected = [(arch.position, dict(arch.stage_args[s]))]
                if found != expected:
                    got = ', '.join(f'{k}={v}' for _, a in found for k, v in a.items())
                    args = ', '.join(f'{k}={v}' for k, v in arch.stage_args[s].items())
                    same_place = found and found[0][0] == arch.position
                    what = f'{where} with {got}' if same_place else 'its module elsewhere or none'
                    has.append((f'{block.name}: {what}',
                                f'{where} with {args} in every block of stage {s + 1}'))
                    break
            if has:
                break
    if has:
        what, expected = has[0]
        fail(f'{net.name} is not {label}: it has {what}, {label} has {expected}')


def matching_arch(net: SourceNet) -> Optional[SourceArch]:
    """The family's published architecture the checkpoint is, if any."""
    for arch in net.family.archs.values():
        try:
            check_arch(net, arch)
        except ValueError:
            continue
        return arch
    return None
