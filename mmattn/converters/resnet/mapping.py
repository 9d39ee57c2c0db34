"""Copying the source's tensors into the target's names, once every check has passed."""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Set

import torch
import torch.nn as nn
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.config import BLOCK_POSITIONS
from ..layouts import ModuleWeights, SourceNet
from ..modules import describe_args
from .checks import check_compatible
from .common import BN_EPS, fail
from .target import TargetNet


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
            fail(f'{net.name} has no {net.family.prefix}{skey} for {tkey} of {tgt.name}')
        value = net.state[skey]
        if tuple(value.shape) != tuple(tensor.shape):
            fail(f'{net.name} has {net.family.prefix}{skey} of shape {tuple(value.shape)}, '
                 f'{tgt.name} has {tkey} of shape {tuple(tensor.shape)}')
        out[tkey] = value.to(tensor.dtype) if rel != 'num_batches_tracked' else value
        used.add(skey)
        result.counts[group] = result.counts.get(group, 0) + 1


def _copy_module(net: SourceNet, sm: ModuleWeights, tgt: TargetNet, path: str,
                 module: nn.Module, out: Dict[str, Tensor], used: Set[str],
                 result: MappingResult) -> None:
    for name, norm in module.named_modules():
        if isinstance(norm, (_BatchNorm, nn.GroupNorm)) and norm.eps != BN_EPS:
            fail(f'{tgt.name} has {path}.{name} with eps={norm.eps}; the {sm.kind} of '
                 f'{net.name} was trained with eps={BN_EPS}')
    want = module.state_dict()
    for rel, tensor in want.items():
        tkey = f'{path}.{rel}'
        if rel not in sm.tensors:
            if rel.endswith('num_batches_tracked'):
                out[tkey] = torch.zeros((), dtype=torch.long)
                result.filled.append(tkey)
                continue
            fail(f'the {sm.kind} of {net.name} in {path.rsplit(".", 1)[0]} '
                 f'({describe_args(sm.kind, sm.tensors)}) has nothing for {tkey} of '
                 f'{tgt.name} ({describe_args(sm.kind, want)})')
        value = sm.tensors[rel]
        if tuple(value.shape) != tuple(tensor.shape):
            fail(f'the {sm.kind} of {net.name} in {path.rsplit(".", 1)[0]} has '
                 f'{describe_args(sm.kind, sm.tensors)}, the one of {tgt.name} has '
                 f'{describe_args(sm.kind, want)} ({tkey}: {tuple(value.shape)} vs '
                 f'{tuple(tensor.shape)})')
        out[tkey] = value.to(tensor.dtype) if not rel.endswith('num_batches_tracked') else value
        result.counts[sm.kind] = result.counts.get(sm.kind, 0) + 1
    extra = sorted(set(sm.tensors) - set(want))
    if extra:
        fail(f'the {sm.kind} of {net.name} in {path.rsplit(".", 1)[0]} has {extra[0]} '
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
                fail(f'{net.name} has {has["ds_conv" in sb.trunk]} in {sb.name}, '
                     f'{tgt.name} {has["ds_conv" in tb.trunk]}')
            for role, sprefix in sb.trunk.items():
                _copy_layer(net, sprefix, tgt, tb.trunk[role], out, used, result, 'blocks')
            for position in BLOCK_POSITIONS:
                s = [m for m in sb.modules if m.position == position]
                t = [(path, m) for p, path, m in tb.modules if p == position]
                for sm, (path, module) in zip(s, t):
                    _copy_module(net, sm, tgt, path, module, out, used, result)
    unused = [k for k in net.state if k not in used]
    if unused:
        fail(f'{net.name} has {net.family.prefix}{unused[0]}'
             + (f' (and {len(unused) - 1} more)' if len(unused) > 1 else '')
             + f', which has no place in {tgt.name}')
    want = tgt.backbone.state_dict()
    missing = [k for k in want if k not in out]
    if missing:
        more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
        fail(f'{tgt.name} has {missing[0]}{more}, which {net.name} does not fill')
    result.state_dict = OrderedDict((k, out[k]) for k in want)
    # The last word: the file loads strictly into the backbone it was checked against
    # (assign: the backbone is built on the meta device and thrown away after).
    tgt.backbone.load_state_dict(result.state_dict, strict=True, assign=True)
    return result
