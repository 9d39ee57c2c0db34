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
"""
import copy
import importlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import torch
import torch.nn as nn
from mmengine.registry import DefaultScope
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.models.utils.identity_init import IdentityInit
from mmattn.sweep.positions import describe_stages
from .io import first_keys
from .layouts import (DEPTHS, POSITION_WORDS, STEM_WORDS, ModuleWeights, ParseContext, SourceArch,
                      SourceBlock, SourceFamily, SourceNet)
from .modules import config_args, describe_args, module_args, sort_key, target_settings

BN_EPS = 1e-5  # every source family trains with PyTorch's default BatchNorm epsilon
_BLOCK_KEY = re.compile(r'^layer(\d+)\.(\d+)\.(.+)$')
_TRUNK_ROLES = ('conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3')
POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')


def _fail(message: str) -> None:
    raise ValueError(f'converter: {message}')


# ----------------------------------------------------------------------------- source side
def _is_bn(state: Dict[str, Tensor], prefix: str) -> bool:
    return f'{prefix}.running_mean' in state


def _is_conv(state: Dict[str, Tensor], prefix: str) -> bool:
    w = state.get(f'{prefix}.weight')
    return w is not None and w.dim() == 4 and not _is_bn(state, prefix)


def _parse_stem(state: Dict[str, Tensor], family: SourceFamily, source: str
                ) -> Tuple[str, List[Tuple[str, str]]]:
    if _is_conv(state, 'conv1') and _is_bn(state, 'bn1'):
        return 'plain', [('conv1', 'bn1')]
    indices = sorted({int(m.group(1)) for k in state
                      for m in [re.match(r'^conv1\.(\d+)\.', k)] if m})
    if family.deep_stem == 'timm' and indices and _is_bn(state, 'bn1'):
        convs = [f'conv1.{i}' for i in indices if _is_conv(state, f'conv1.{i}')]
        bns = [f'conv1.{i}' for i in indices if _is_bn(state, f'conv1.{i}')] + ['bn1']
        if convs and len(convs) == len(bns):
            return 'deep', list(zip(convs, bns))
    deep = ' (conv1.0-6 + bn1)' if family.deep_stem == 'timm' else ''
    _fail(f'{source} is not a checkpoint of {family.title}: its stem is neither conv1 + bn1 '
          f'nor a deep stem the family names{deep}; its first keys: {first_keys(state)}')


def parse_source(state: Dict[str, Tensor], meta: Dict[str, Any], family: SourceFamily,
                 source: str) -> SourceNet:
    """Read a checkpoint of ``family`` into a :class:`SourceNet`; unknown keys are refused."""
    backbone: Dict[str, Tensor] = OrderedDict()
    dropped, unknown = [], []
    for key, value in state.items():
        if any(key.startswith(p) for p in family.head_prefixes):
            dropped.append(key)
        elif key.startswith(family.prefix):
            backbone[key[len(family.prefix):]] = value
        else:
            unknown.append(key)
    if 'layer1.0.conv1.weight' not in backbone:
        _fail(f'{source} is not a checkpoint of {family.title}: it has no '
              f'{family.prefix}layer1.0.conv1.weight (its first keys: {first_keys(state)})')
    if unknown:
        _fail(f'{source} is not a checkpoint of {family.title}: {unknown[0]!r} lies outside its '
              f'backbone ({family.prefix or "no prefix"}) and classifier '
              f'({", ".join(family.head_prefixes)})')
    stem, stem_pairs = _parse_stem(backbone, family, source)
    stem_keys = {k for conv, bn in stem_pairs for k in backbone
                 if k.startswith(conv + '.') or k.startswith(bn + '.')}

    per_block: Dict[Tuple[int, int], Dict[str, Tensor]] = {}
    for key in backbone:
        if key in stem_keys:
            continue
        m = _BLOCK_KEY.match(key)
        if m is None:
            _fail(f'{source} is not a checkpoint of {family.title}: {family.prefix}{key} is '
                  'neither in the stem nor in a stage (layer1-4)')
        per_block.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = key
    stages = sorted({s for s, _ in per_block})
    if stages != list(range(1, len(stages) + 1)) or len(stages) > 4:
        _fail(f'{source} has stages {", ".join(f"layer{s}" for s in stages)}; a ResNet has '
              'layer1 to layer4')
    blocks: List[List[SourceBlock]] = []
    avg_down = False
    for s in stages:
        idx = sorted(b for t, b in per_block if t == s)
        if idx != list(range(len(idx))):
            _fail(f'{source} has blocks {idx} in layer{s}; they must count from 0')
        stage_blocks = []
        for b in idx:
            block, down_avg = _parse_block(backbone, per_block[(s, b)], f'layer{s}.{b}',
                                           family, source, meta)
            avg_down = avg_down or down_avg
            stage_blocks.append(block)
        blocks.append(stage_blocks)
    return SourceNet(family=family, name=source, state=backbone, stem=stem,
                     stem_pairs=stem_pairs, avg_down=avg_down, blocks=blocks,
                     dropped=[k for k in dropped])


def _parse_block(state: Dict[str, Tensor], keys: Dict[str, str], name: str,
                 family: SourceFamily, source: str, meta: Dict[str, Any]
                 ) -> Tuple[SourceBlock, bool]:
    if 'conv3.weight' not in keys:
        _fail(f'{source}: {name} has no conv3: it is a BasicBlock (ResNet-18/34); the '
              'converters read Bottleneck ResNets (depth 50, 101, 152)')
    trunk = {role: f'{name}.{role}' for role in _TRUNK_ROLES}
    rest: Dict[str, Dict[str, Tensor]] = {}
    down: Dict[int, None] = {}
    for sub, key in keys.items():
        head = sub.split('.', 1)[0]
        if head in _TRUNK_ROLES:
            continue
        if head == 'downsample':
            down[int(sub.split('.')[1])] = None
            continue
        if head not in family.modules:
            known = ', '.join(sorted(family.modules)) or 'none'
            _fail(f'{source} is not a checkpoint of {family.title}: {family.prefix}{key} is no '
                  f'part of its Bottleneck (conv1-3, bn1-3, downsample, modules: {known})')
        rest.setdefault(head, {})[sub.split('.', 1)[1]] = state[key]
    avg_down = False
    if down:
        convs = [i for i in down if _is_conv(state, f'{name}.downsample.{i}')]
        bns = [i for i in down if _is_bn(state, f'{name}.downsample.{i}')]
        if len(convs) != 1 or len(bns) != 1 or bns[0] != convs[0] + 1:
            _fail(f'{source}: the shortcut of {name} is not a conv followed by a BatchNorm '
                  f'(downsample.{sorted(down)})')
        trunk['ds_conv'] = f'{name}.downsample.{convs[0]}'
        trunk['ds_bn'] = f'{name}.downsample.{bns[0]}'
        # A parameter-free layer before the conv is the ResNet-D average pool.
        avg_down = convs[0] > 0
    ctx = ParseContext(source=source, block=name, meta=meta)
    modules = []
    for attr, tensors in rest.items():
        module = family.modules[attr](f'{family.prefix}{name}.{attr}', tensors, ctx)
        module.source_keys = {k: f'{name}.{attr}.{v}' for k, v in module.source_keys.items()}
        modules.append(module)
    modules.sort(key=lambda m: POSITIONS.index(m.position))
    return SourceBlock(name=name, trunk=trunk, modules=modules), avg_down


# ----------------------------------------------------------------------------- target side
@dataclass
class TargetBlock:
    name: str
    trunk: Dict[str, str]  # role -> module path in the backbone
    modules: List[Tuple[str, str, nn.Module]]  # (position, module path, module)


@dataclass
class TargetNet:
    backbone: nn.Module
    name: str  # for messages: "the config's PluginResNet"
    stem: str
    stem_pairs: List[Tuple[str, str]]
    avg_down: bool
    blocks: List[List[TargetBlock]]


def _resnet_classes() -> Tuple[type, ...]:
    from mmdet.models.backbones.resnet import ResNet as DetResNet
    classes = [DetResNet]
    try:
        from mmseg.models.backbones.resnet import ResNet as SegResNet
        classes.append(SegResNet)
    except ImportError:  # mmseg is an optional extra
        pass
    return tuple(classes)


def _pairs(seq: nn.Sequential, path: str, owner: str) -> List[Tuple[str, str]]:
    convs = [n for n, m in seq.named_children() if isinstance(m, nn.Conv2d)]
    norms = [n for n, m in seq.named_children() if isinstance(m, (_BatchNorm, nn.GroupNorm))]
    if len(convs) != len(norms):
        _fail(f'{owner}: {path} is not a sequence of conv + norm pairs')
    return [(f'{path}.{c}', f'{path}.{n}') for c, n in zip(convs, norms)]


def describe_target(backbone: nn.Module, name: str) -> TargetNet:
    """Read a built mmdet/mmseg ResNet-family backbone into roles."""
    if not isinstance(backbone, _resnet_classes()):
        _fail(f'{name} is a {type(backbone).__name__}; the converters write ResNet-family '
              'backbones (mmdet ResNet/ResNetV1d/ResNeXt, mmseg ResNet/ResNetV1c/ResNetV1d, '
              "mmattn's PluginResNet*)")
    if backbone.deep_stem:
        stem, stem_pairs = 'deep', _pairs(backbone.stem, 'stem', name)
    else:
        stem, stem_pairs = 'plain', [('conv1', backbone.norm1_name)]
    blocks = []
    for layer_name in backbone.res_layers:
        stage = []
        for j, block in enumerate(getattr(backbone, layer_name)):
            path = f'{layer_name}.{j}'
            if not hasattr(block, 'conv3'):
                _fail(f'{name} is a ResNet-{backbone.depth} of BasicBlocks; the converters '
                      'read Bottleneck ResNets (depth 50, 101, 152)')
            if getattr(block, 'with_dcn', False):
                _fail(f'{name} has deformable convs in {path} (dcn / stage_with_dcn), whose '
                      'offsets no ImageNet checkpoint holds; remove dcn to convert')
            trunk = {}
            for i in (1, 2, 3):
                trunk[f'conv{i}'] = f'{path}.conv{i}'
                trunk[f'bn{i}'] = f'{path}.{getattr(block, f"norm{i}_name")}'
            if block.downsample is not None:
                pairs = _pairs(block.downsample, f'{path}.downsample', name)
                trunk['ds_conv'], trunk['ds_bn'] = pairs[0]
            modules = []
            for position in POSITIONS:
                for plugin in getattr(block, f'{position}_plugin_names', None) or []:
                    modules.append((position, f'{path}.{plugin}', getattr(block, plugin)))
            stage.append(TargetBlock(path, trunk, modules))
        blocks.append(stage)
    return TargetNet(backbone=backbone, name=name, stem=stem, stem_pairs=stem_pairs,
                     avg_down=bool(backbone.avg_down), blocks=blocks)


def build_backbone(cfg: dict, scope: str, device: str = 'cpu') -> nn.Module:
    """Build a backbone config in mmdet's or mmseg's registry, without loading weights.

    ``device='meta'`` builds shapes without storage or initialisation, which
    is all the converter needs to check names and shapes (a ResNet-101 builds
    in a tenth of the time).
    """
    import mmattn  # noqa: F401  (registers PluginResNet* and the modules)
    cfg = copy.deepcopy(dict(cfg))
    cfg.pop('init_cfg', None)
    cfg.pop('pretrained', None)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    importlib.import_module(f'{scope}.models')
    with DefaultScope.overwrite_default_scope(scope), torch.device(device):
        return registry.build(cfg)


# ----------------------------------------------------------------------------- summaries
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
        parts.append(f'{kind} {POSITION_WORDS[position]} in {where}')
    return ', '.join(parts)


def describe_source_modules(net: SourceNet) -> str:
    return _describe_layout(_module_layout(net.blocks, _source_entries))


def describe_target_modules(tgt: TargetNet) -> str:
    return _describe_layout(_module_layout(tgt.blocks, _target_entries))


# ----------------------------------------------------------------------------- checks
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
        _fail(f'{src} has {", ".join(map(str, counts))} blocks per stage'
              + (f' (ResNet-{depth})' if depth else '')
              + f', {dst} has {", ".join(map(str, tcounts))}'
              + (f' (depth={tdepth}, num_stages={len(tcounts)})' if tdepth else ''))
    if net.stem != tgt.stem:
        _fail(f'{src} has {STEM_WORDS[net.stem]}, {dst} has {STEM_WORDS[tgt.stem]}: use '
              + ('ResNetV1c/ResNetV1d (mmseg), PluginResNetV1c/V1d or deep_stem=True'
                 if net.stem == 'deep' else
                 'ResNet, PluginResNet (mmdet) or PluginResNetV1b (mmseg)'))
    if net.avg_down != tgt.avg_down:
        words = {True: 'an average pool before the 1x1 conv (ResNet-D, avg_down=True)',
                 False: 'a strided 1x1 conv (avg_down=False)'}
        _fail(f'{src} downsamples its shortcuts with {words[net.avg_down]}, {dst} with '
              f'{words[tgt.avg_down]}')
    style = getattr(tgt.backbone, 'style', 'pytorch')
    if style != 'pytorch':
        _fail(f"{src} strides in the 3x3 conv (style='pytorch'), {dst} has style={style!r}, "
              'which strides in the first 1x1 conv')
    tconv2 = tgt.backbone.get_submodule(tgt.blocks[0][0].trunk['conv2'])
    if (net.width, net.groups) != (tconv2.out_channels, tconv2.groups):
        _fail(f'{src} has {_grouping(net.width, net.groups)}, {dst} has '
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
            _fail(f'{tgt.name} normalises {path} with {type(norm).__name__} (norm_cfg); '
                  f"{net.name}'s BatchNorm statistics have no place there: use BN or SyncBN")
        if norm.eps != BN_EPS:
            _fail(f'{tgt.name} has {path} with eps={norm.eps}; {net.name} was trained with '
                  f'BatchNorm eps={BN_EPS}')


def _check_modules(net: SourceNet, tgt: TargetNet) -> None:
    src, dst = net.name, tgt.name
    for sstage, tstage in zip(net.blocks, tgt.blocks):
        for sb, tb in zip(sstage, tstage):
            for position in POSITIONS:
                s = [m for m in sb.modules if m.position == position]
                t = [(path, m) for p, path, m in tb.modules if p == position]
                where = f'{POSITION_WORDS[position]} in {sb.name}'
                for (path, module) in t:
                    if isinstance(module, IdentityInit):
                        _fail(f'{dst} wraps its {_kind(module.module)} {where} in '
                              f'IdentityInit (identity_init=True), which starts it as the '
                              f'identity; the {_kind(module.module)} of {src} must compute '
                              'what it was trained to: set identity_init=False')
                skinds, tkinds = [m.kind for m in s], [_kind(m) for _, m in t]
                if skinds == tkinds:
                    for sm, (path, module) in zip(s, t):
                        _check_settings(sm, module, path, src, dst)
                    continue
                if not tkinds:
                    _fail(f'{src} has {" + ".join(skinds)} {where} '
                          f'({describe_source_modules(net)}), where {dst} has no module '
                          f'({describe_target_modules(tgt)})')
                if not skinds:
                    _fail(f'{dst} has {" + ".join(tkinds)} {where}, a position where {src} '
                          f'has no module (it has {describe_source_modules(net)})')
                _fail(f'{where}, {src} has {" + ".join(skinds)} and {dst} has '
                      f'{" + ".join(tkinds)}')


def _check_settings(sm: ModuleWeights, module: nn.Module, path: str, src: str,
                    dst: str) -> None:
    have = target_settings(sm.kind, module)
    for key, value in sm.settings.items():
        if key in have and have[key] != value:
            _fail(f'the {sm.kind} of {src} computes with {key}={value!r}, {dst} has '
                  f'{key}={have[key]!r} in {path}')


# ----------------------------------------------------------------------------- mapping
@dataclass
class MappingResult:
    state_dict: 'OrderedDict[str, Tensor]'
    counts: Dict[str, int] = field(default_factory=dict)  # 'stem' / 'trunk' / module kind -> n
    filled: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def _copy_layer(net: SourceNet, src_prefix: str, tgt: TargetNet, tgt_path: str,
                out: Dict[str, Tensor], used: Set[str], result: MappingResult,
                group: str) -> None:
    module = tgt.backbone.get_submodule(tgt_path)
    for rel, tensor in module.state_dict().items():
        skey, tkey = f'{src_prefix}.{rel}', f'{tgt_path}.{rel}'
        if skey not in net.state:
            if rel == 'num_batches_tracked':
                out[tkey] = torch.zeros((), dtype=torch.long)
                result.filled.append(tkey)
                continue
            _fail(f'{net.name} has no {net.family.prefix}{skey} for {tkey} of {tgt.name}')
        value = net.state[skey]
        if tuple(value.shape) != tuple(tensor.shape):
            _fail(f'{net.name} has {net.family.prefix}{skey} of shape {tuple(value.shape)}, '
                  f'{tgt.name} has {tkey} of shape {tuple(tensor.shape)}')
        out[tkey] = value.to(tensor.dtype) if rel != 'num_batches_tracked' else value
        used.add(skey)
        result.counts[group] = result.counts.get(group, 0) + 1


def _copy_module(net: SourceNet, sm: ModuleWeights, tgt: TargetNet, path: str,
                 module: nn.Module, out: Dict[str, Tensor], used: Set[str],
                 result: MappingResult) -> None:
    for name, norm in module.named_modules():
        if isinstance(norm, (_BatchNorm, nn.GroupNorm)) and norm.eps != BN_EPS:
            _fail(f'{tgt.name} has {path}.{name} with eps={norm.eps}; the {sm.kind} of '
                  f'{net.name} was trained with eps={BN_EPS}')
    want = module.state_dict()
    for rel, tensor in want.items():
        tkey = f'{path}.{rel}'
        if rel not in sm.tensors:
            if rel.endswith('num_batches_tracked'):
                out[tkey] = torch.zeros((), dtype=torch.long)
                result.filled.append(tkey)
                continue
            _fail(f'the {sm.kind} of {net.name} in {path.rsplit(".", 1)[0]} '
                  f'({describe_args(sm.kind, sm.tensors)}) has nothing for {tkey} of '
                  f'{tgt.name} ({describe_args(sm.kind, want)})')
        value = sm.tensors[rel]
        if tuple(value.shape) != tuple(tensor.shape):
            _fail(f'the {sm.kind} of {net.name} in {path.rsplit(".", 1)[0]} has '
                  f'{describe_args(sm.kind, sm.tensors)}, the one of {tgt.name} has '
                  f'{describe_args(sm.kind, want)} ({tkey}: {tuple(value.shape)} vs '
                  f'{tuple(tensor.shape)})')
        out[tkey] = value.to(tensor.dtype) if not rel.endswith('num_batches_tracked') else value
        result.counts[sm.kind] = result.counts.get(sm.kind, 0) + 1
    extra = sorted(set(sm.tensors) - set(want))
    if extra:
        _fail(f'the {sm.kind} of {net.name} in {path.rsplit(".", 1)[0]} has {extra[0]} '
              f'({describe_args(sm.kind, sm.tensors)}), which the one of {tgt.name} '
              f'({describe_args(sm.kind, want)}) lacks')
    used.update(sm.source_keys.values())
    for note in sm.notes:
        if note not in result.notes:
            result.notes.append(note)


def map_weights(net: SourceNet, tgt: TargetNet) -> MappingResult:
    """The checkpoint's tensors under the target's names; every tensor used, every key filled."""
    check_compatible(net, tgt)
    out: Dict[str, Tensor] = {}
    used: Set[str] = set()
    result = MappingResult(state_dict=OrderedDict())
    for (sconv, sbn), (tconv, tbn) in zip(net.stem_pairs, tgt.stem_pairs):
        _copy_layer(net, sconv, tgt, tconv, out, used, result, 'stem')
        _copy_layer(net, sbn, tgt, tbn, out, used, result, 'stem')
    for sstage, tstage in zip(net.blocks, tgt.blocks):
        for sb, tb in zip(sstage, tstage):
            if set(sb.trunk) != set(tb.trunk):
                has = {True: 'a projection shortcut', False: 'an identity shortcut'}
                _fail(f'{net.name} has {has["ds_conv" in sb.trunk]} in {sb.name}, '
                      f'{tgt.name} {has["ds_conv" in tb.trunk]}')
            for role, sprefix in sb.trunk.items():
                _copy_layer(net, sprefix, tgt, tb.trunk[role], out, used, result, 'blocks')
            for position in POSITIONS:
                s = [m for m in sb.modules if m.position == position]
                t = [(path, m) for p, path, m in tb.modules if p == position]
                for sm, (path, module) in zip(s, t):
                    _copy_module(net, sm, tgt, path, module, out, used, result)
    unused = [k for k in net.state if k not in used]
    if unused:
        _fail(f'{net.name} has {net.family.prefix}{unused[0]}'
              + (f' (and {len(unused) - 1} more)' if len(unused) > 1 else '')
              + f', which has no place in {tgt.name}')
    want = tgt.backbone.state_dict()
    missing = [k for k in want if k not in out]
    if missing:
        more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
        _fail(f'{tgt.name} has {missing[0]}{more}, which {net.name} does not fill')
    result.state_dict = OrderedDict((k, out[k]) for k in want)
    # The last word: the file loads strictly into the backbone it was checked against
    # (assign: the backbone is built on the meta device and thrown away after).
    tgt.backbone.load_state_dict(result.state_dict, strict=True, assign=True)
    return result


# ----------------------------------------------------------------------------- suggestion
def _stage_specs(per_stage_blocks: Sequence[Sequence[List[Tuple[str, str, dict]]]],
                 source: str) -> List[List[Tuple[str, str, tuple]]]:
    """Per stage, the (kind, position, cfg args) every block of it has; refuse if they differ."""
    specs = []
    for s, stage in enumerate(per_stage_blocks):
        frozen = [[(k, p, tuple(sorted(a.items(), key=sort_key))) for k, p, a in block]
                  for block in stage]
        if any(f != frozen[0] for f in frozen):
            _fail(f'{source} has different modules or module arguments in the blocks of '
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
        _fail(f"task={task!r} must be 'det' or 'seg'")
    scope = 'mmdet' if task == 'det' else 'mmseg'
    if groups > 1:
        return scope, 'ResNeXt'
    if task == 'det':
        return scope, 'PluginResNet'
    if stem == 'plain':
        if avg_down:
            _fail('a plain stem with an average-pool shortcut has no mmseg backbone class; '
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
        _fail(f'{net.name} has {", ".join(map(str, net.blocks_per_stage))} blocks per stage, '
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
        where = f'{arch.module} {POSITION_WORDS[arch.position]}'
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
        _fail(f'{net.name} is not {label}: it has {what}, {label} has {expected}')


def matching_arch(net: SourceNet) -> Optional[SourceArch]:
    """The family's published architecture the checkpoint is, if any."""
    for arch in net.family.archs.values():
        try:
            check_arch(net, arch)
        except ValueError:
            continue
        return arch
    return None
