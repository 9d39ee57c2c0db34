"""The official SCSA repository's ResNets (HZAI-ZJNU/SCSA, an mmpretrain 1.2 fork).

Code: https://github.com/HZAI-ZJNU/SCSA (``mmpretrain/models/backbones/resnet_scsa.py``,
``mmpretrain/models/attentions/SCSA.py``, ``work_dirs/resnet50_1xb128_in1k_scsa.py``).
The authors announce their ImageNet weights but have not released them; the
converter reads checkpoints trained with that code.

Layout: an mmpretrain ``ImageClassifier`` checkpoint (mmengine's
``{'meta': ..., 'state_dict': ..., ...}``), the backbone under ``backbone.``
in torchvision names (``conv1``, ``bn1``, ``layerS.B.conv1-3``, ``bn1-3``,
``downsample.0-1``; stride in the 3x3 conv), the classifier under ``head.``.
``BottleneckSCSA`` applies ``attn`` after conv2's ReLU, before conv3
(mmdet's ``after_conv2``), on the bottleneck width, in every block of every
stage. mmattn's SCSA keeps the official sub-module names (``local_dwc``,
``global_dwc_s/m/l``, ``norm_h``, ``norm_w``, ``norm``, ``q``, ``k``, ``v``),
so the tensors carry over unchanged; ``down_sample_mode='recombination'``
(a ``conv_d`` tensor) is refused, as mmattn's SCSA refuses it.

``head_num``, ``window_size``, ``down_sample_mode``, ``gate_layer`` and
``attn_drop_ratio`` change the function without changing a tensor: they are
read from the training config mmengine stores in the checkpoint's
``meta['cfg']`` (``model.backbone.scsa_cfg``) and compared with the target's;
a checkpoint without it is converted with a note saying they could not be
checked.
"""
import ast
from typing import Any, Dict, Optional

from torch import Tensor

from .common import rename, require
from .io import optional_meta_cfg
from .layouts import ModuleWeights, ParseContext, SourceArch, SourceFamily, register_family
from .modules import SCSA_SETTINGS

CODE = 'https://github.com/HZAI-ZJNU/SCSA'
PAPER = 'https://arxiv.org/abs/2407.05128'
_TITLE = 'the official SCSA code'
_NAMES = ('local_dwc', 'global_dwc_s', 'global_dwc_m', 'global_dwc_l', 'norm_h', 'norm_w',
          'norm', 'q', 'k', 'v')
UNCHECKED_NOTE = ('SCSA: the checkpoint carries no training config (meta["cfg"]), so its '
                  'head_num, window_size, down_sample_mode, gate_layer and attn_drop_ratio, '
                  'which no tensor shows, could not be checked: the target\'s are taken as the '
                  'ones it was trained with (the official ResNet setting: head_num=1, '
                  "window_size=7, 'avg_pool', 'sigmoid', 0.0)")
# The official ResNet configs' scsa_cfg (work_dirs/resnet50_1xb128_in1k_scsa.py).
OFFICIAL_SETTINGS = dict(head_num=1, window_size=7, down_sample_mode='avg_pool',
                         gate_layer='sigmoid', attn_drop_ratio=0.0)


def _literal(node: ast.AST) -> Any:
    """A config expression of dicts, lists, tuples and constants, without running code."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
            node.func.id == 'dict' and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal(node.operand)
    return ast.literal_eval(node)


def scsa_cfg_from_meta(meta: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """``model.backbone.scsa_cfg`` of the training config in ``meta['cfg']``, if readable."""
    text = optional_meta_cfg(meta)
    if text is None:
        return None
    try:
        tree = ast.parse(text)
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == 'model' for t in stmt.targets):
                model = _literal(stmt.value)
                cfg = model.get('backbone', {}).get('scsa_cfg')
                return dict(cfg) if isinstance(cfg, dict) else None
    except (SyntaxError, ValueError, AttributeError, TypeError):
        return None
    return None


def _parse_attn(prefix: str, tensors: Dict[str, Tensor], ctx: ParseContext) -> ModuleWeights:
    if 'conv_d.weight' in tensors:
        raise ValueError(f"converter: {prefix} has conv_d: it was trained with "
                         "down_sample_mode='recombination', which the official code never "
                         "defines and mmattn's SCSA refuses")
    require(prefix, tensors, ('local_dwc.weight', 'q.weight'), 'the official SCSA')
    rules = [(f'{n}.{p}', f'{n}.{p}', None) for n in _NAMES for p in ('weight', 'bias')]
    module = rename(prefix, tensors, 'SCSA', 'after_conv2', rules, _TITLE,
                    'SCSA (local_dwc, global_dwc_s/m/l, norm_h, norm_w, norm, q, k, v)')
    cfg = scsa_cfg_from_meta(ctx.meta)
    if cfg is None:
        module.notes = (UNCHECKED_NOTE, )
    else:
        # The official SCSA's own defaults for what the config leaves out (head_num has none).
        settings = dict(window_size=7, down_sample_mode='avg_pool', gate_layer='sigmoid',
                        attn_drop_ratio=0.0)
        settings.update((k, v) for k, v in cfg.items() if k in SCSA_SETTINGS)
        module.settings = settings
    return module


def _args():
    return tuple(dict(group_kernel_sizes=(3, 5, 7, 9), qkv_bias=False) for _ in range(4))


_SCSA = dict(module='SCSA', position='after_conv2', stage_args=_args(),
             settings=OFFICIAL_SETTINGS)

ARCHS = {a.name: a for a in (
    SourceArch('resnet50_scsa', (3, 4, 6, 3), **_SCSA, top1_url=PAPER,
               note='work_dirs/resnet50_1xb128_in1k_scsa.py; weights announced, not released'),
    SourceArch('resnet101_scsa', (3, 4, 23, 3), **_SCSA, top1_url=PAPER,
               note='work_dirs/resnet101_1xb128_in1k_scsa.py; weights announced, not released'),
)}

FAMILY = register_family(SourceFamily(
    name='scsa', title=_TITLE, code=CODE, modules=dict(attn=_parse_attn), archs=ARCHS,
    prefix='backbone.', head_prefixes=('head.', )))
