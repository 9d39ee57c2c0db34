"""The source side: a checkpoint's tensors read into roles.

The result is a :class:`~mmattn.converters.layouts.SourceNet`.
"""
import re
from collections import OrderedDict
from typing import Any, Dict, List, Tuple

from torch import Tensor

from mmattn.config import BLOCK_POSITIONS
from ..io import first_keys
from ..layouts import ParseContext, SourceBlock, SourceFamily, SourceNet
from .common import BLOCK_KEY, TRUNK_ROLES, fail


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
    fail(f'{source} is not a checkpoint of {family.title}: its stem is neither conv1 + bn1 '
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
        fail(f'{source} is not a checkpoint of {family.title}: it has no '
             f'{family.prefix}layer1.0.conv1.weight (its first keys: {first_keys(state)})')
    if unknown:
        fail(f'{source} is not a checkpoint of {family.title}: {unknown[0]!r} lies outside its '
             f'backbone ({family.prefix or "no prefix"}) and classifier '
             f'({", ".join(family.head_prefixes)})')
    stem, stem_pairs = _parse_stem(backbone, family, source)
    stem_keys = {k for conv, bn in stem_pairs for k in backbone
                 if k.startswith(conv + '.') or k.startswith(bn + '.')}

    per_block: Dict[Tuple[int, int], Dict[str, Tensor]] = {}
    for key in backbone:
        if key in stem_keys:
            continue
        m = BLOCK_KEY.match(key)
        if m is None:
            fail(f'{source} is not a checkpoint of {family.title}: {family.prefix}{key} is '
                 'neither in the stem nor in a stage (layer1-4)')
        per_block.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = key
    stages = sorted({s for s, _ in per_block})
    if stages != list(range(1, len(stages) + 1)) or len(stages) > 4:
        fail(f'{source} has stages {", ".join(f"layer{s}" for s in stages)}; a ResNet has '
             'layer1 to layer4')
    blocks: List[List[SourceBlock]] = []
    avg_down = False
    for s in stages:
        idx = sorted(b for t, b in per_block if t == s)
        if idx != list(range(len(idx))):
            fail(f'{source} has blocks {idx} in layer{s}; they must count from 0')
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
        fail(f'{source}: {name} has no conv3: it is a BasicBlock (ResNet-18/34); the '
             'converters read Bottleneck ResNets (depth 50, 101, 152)')
    trunk = {role: f'{name}.{role}' for role in TRUNK_ROLES}
    rest: Dict[str, Dict[str, Tensor]] = {}
    down: Dict[int, None] = {}
    for sub, key in keys.items():
        head = sub.split('.', 1)[0]
        if head in TRUNK_ROLES:
            continue
        if head == 'downsample':
            down[int(sub.split('.')[1])] = None
            continue
        if head not in family.modules:
            known = ', '.join(sorted(family.modules)) or 'none'
            fail(f'{source} is not a checkpoint of {family.title}: {family.prefix}{key} is no '
                 f'part of its Bottleneck (conv1-3, bn1-3, downsample, modules: {known})')
        rest.setdefault(head, {})[sub.split('.', 1)[1]] = state[key]
    avg_down = False
    if down:
        convs = [i for i in down if _is_conv(state, f'{name}.downsample.{i}')]
        bns = [i for i in down if _is_bn(state, f'{name}.downsample.{i}')]
        if len(convs) != 1 or len(bns) != 1 or bns[0] != convs[0] + 1:
            fail(f'{source}: the shortcut of {name} is not a conv followed by a BatchNorm '
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
    modules.sort(key=lambda m: BLOCK_POSITIONS.index(m.position))
    return SourceBlock(name=name, trunk=trunk, modules=modules), avg_down
