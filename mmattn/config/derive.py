"""Which modules go where in a base config: the one derivation of ``--attention`` and the sweep.

``tools/train.py``, ``tools/test.py`` and ``visualize_attention.py`` take ``--attention
SPEC [SPEC ...]`` (:mod:`mmattn.config.spec`) and run the base config with all of them;
``tools/sweep.py`` writes one derived config per module. Both call :func:`derive_model`,
so a module lands in the same place, built by the same backbone or neck, either way.

At a block position the backbone becomes its plugin-capable form (:data:`PLUGIN_FORMS`):
mmdet's ``ResNet``/``ResNetV1d`` -> ``PluginResNet``, ``ResNeXt`` -> ``PluginResNeXt``,
mmseg's ``ResNetV1c``/``ResNetV1d`` -> ``PluginResNetV1c``/``PluginResNetV1d``, its
``ResNet``/``ResNeXt`` -> ``PluginResNetV1b``/``SegPluginResNeXt``: the same arguments and
parameter names. ``after_stage`` wraps any backbone in ``AttentionBackbone``;
``after_neck`` wraps the neck in ``AttentionNeck``, and a neck module (ASFF) is appended
to the neck. Left out, the position is the module's default (its class's
:meth:`~mmattn.models.AttentionBase.placement`) on a ResNet-family backbone and
``after_stage`` on any other; the stages are the module's default (on a backbone that is
no ResNet, aligned at its last output: ``0001`` is its last output) or every neck level.

The derived model replaces the base's attention (its plugins, ``AttentionBackbone``,
``AttentionNeck`` and ``ASFF``; see :func:`mmattn.config.model.strip_attention`): what
the specs name is what the model has.
"""
import copy
import os
import traceback
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from mmattn.models.utils.lookup import lookup_type
from mmattn.registry import ROOT_MODELS
from .model import no_pretrained, starts_as_identity, strip_attention
from .positions import (BLOCK_POSITIONS, Stages, describe_placement, describe_stages,
                        paper_placements, placement_of)
from .record import RECORD_KEY, attention_record, has_attention, record_of
from .render import render_model
from .spec import ModuleSpec, check_module_args, parse_module_spec

#: Side of the zero image that finds a backbone's or neck's output channels.
PROBE_SIZE = 64

#: Backbones whose plugin-capable mmattn form a block position switches to:
#: (module of the class, class name) -> (mmattn type, arguments the form needs).
PLUGIN_FORMS: Dict[Tuple[str, str], Tuple[str, Dict[str, Any]]] = {
    ('mmdet.models.backbones.resnet', 'ResNet'): ('PluginResNet', {}),
    ('mmdet.models.backbones.resnet', 'ResNetV1d'): (
        'PluginResNet', dict(deep_stem=True, avg_down=True)),
    ('mmdet.models.backbones.resnext', 'ResNeXt'): ('PluginResNeXt', {}),
    ('mmseg.models.backbones.resnet', 'ResNetV1c'): ('PluginResNetV1c', {}),
    ('mmseg.models.backbones.resnet', 'ResNetV1d'): ('PluginResNetV1d', {}),
    ('mmseg.models.backbones.resnet', 'ResNet'): ('PluginResNetV1b', {}),
    ('mmseg.models.backbones.resnext', 'ResNeXt'): ('SegPluginResNeXt', {}),
}


class Placed(NamedTuple):
    """Where one spec went in one base: its resolved position and stages.

    ``is_default``: the position and stages are those the spec gets when it names
    neither (the paper's, or every output). ``block``: the block class at a block
    position (``'BasicBlock'``, ``'Bottleneck'``), else None.
    """

    type: str
    position: str
    stages: Stages
    args: Dict[str, Any]
    is_default: bool
    block: Optional[str] = None


class Derivation(NamedTuple):
    """The result of :func:`derive_model`.

    Attributes:
        model (dict): The derived ``model`` config (plain dicts).
        override (dict): What a config on top of the base sets in ``model`` to get
            ``model`` (``_delete_=True`` where a section is replaced).
        placements (list[Placed]): Each spec as placed, in order.
        removed (list[str]): The base's attention that was taken out.
        notes (list[str]): Backbone or neck switches, one sentence each.
    """

    model: dict
    override: dict
    placements: List[Placed]
    removed: List[str]
    notes: List[str]


# ----------------------------------------------------------------------------- the base

def _plain(obj: Any) -> Any:
    if hasattr(obj, 'to_dict'):
        obj = obj.to_dict()
    return copy.deepcopy(obj)


def _is_resnet_family(cls: type) -> bool:
    return any(base.__name__ == 'ResNet' and base.__module__ in (
        'mmdet.models.backbones.resnet', 'mmseg.models.backbones.resnet')
        for base in getattr(cls, '__mro__', ()))


def _lookup(owner: str, cfg: dict, what: str, scope: Optional[str]):
    with DefaultScope.overwrite_default_scope(scope):
        return lookup_type(owner, cfg, what)


def _block_name(cls: type, backbone: dict) -> Optional[str]:
    """``'BasicBlock'`` or ``'Bottleneck'`` for a ResNet-family backbone, None if unknown."""
    depth = backbone.get('depth')
    settings = getattr(cls, 'arch_settings', {})
    if depth not in settings:
        if (cls.__module__, cls.__name__) in PLUGIN_FORMS:
            raise ValueError(f'the config\'s {cls.__name__} has no depth={depth!r}; its depths '
                             f'are {sorted(settings)}')
        return None
    return settings[depth][0].__name__


def build_parts(model: dict, scope: Optional[str], parts: Sequence[str] = ('backbone', 'neck')
                ) -> Dict[str, Any]:
    """The backbone and/or neck of a model config, built as its detector or segmentor
    would build them (``scope``), without initialisation (no checkpoint is read)."""
    cfgs = {part: copy.deepcopy(model[part]) for part in parts if model.get(part) is not None}
    no_pretrained(cfgs)
    with DefaultScope.overwrite_default_scope(scope):
        return {part: ROOT_MODELS.build(cfg) for part, cfg in cfgs.items()}


def _probe(model: dict, scope: Optional[str], upto: str) -> List[Tuple[int, int, int]]:
    """(C, H, W) of every output of the backbone (``upto='backbone'``) or neck, from one
    run in eval mode on zeros of :data:`PROBE_SIZE` (stride 32 leaves 2x2)."""
    built = build_parts(model, scope, ('backbone', 'neck') if upto == 'neck' else ('backbone', ))
    in_channels = model['backbone'].get('in_channels', 3)
    if not isinstance(in_channels, int):
        in_channels = 3
    feats = torch.zeros(1, in_channels, PROBE_SIZE, PROBE_SIZE)
    with torch.no_grad():
        for part in built.values():
            part.eval()  # not chained: some backbones' train() returns None
            feats = part(feats)
    return [tuple(f.shape[1:]) for f in feats]


def check_builds(cfg, derivation: 'Derivation', name: str = 'the derived config') -> None:
    """Build the parts ``derivation`` changed; a failure names the config and the cause."""
    try:
        build_parts(derivation.model, cfg.get('default_scope'), list(derivation.override))
    except Exception as e:
        cause = f'{type(e).__name__}: {e}'
        if not str(e):  # a bare assert: where it failed says what
            frame = traceback.extract_tb(e.__traceback__)[-1]
            cause = f'{type(e).__name__} at {frame.line} ({frame.filename}:{frame.lineno})'
        raise ValueError(f'sweep: {name} would not build: {cause}') from e


def _check_stages(spec: ModuleSpec, stages: Stages, count: int, what: str) -> Stages:
    if len(stages) != count:
        raise ValueError(
            f'module spec {spec.text!r}: stages {"".join("01"[s] for s in stages)} must '
            f'have {count} digits, one per {what}')
    return stages


# ----------------------------------------------------------------------------- derivation

def _module_kind(spec: ModuleSpec, scope: Optional[str]) -> str:
    cls = _lookup(f'module spec {spec.text!r}', dict(type=spec.type), 'module', scope)
    module = getattr(cls, '__module__', '')
    if module.startswith('mmattn.models.necks.') and cls.__name__ != 'AttentionNeck':
        return 'neck'
    if module.startswith(('mmattn.models.backbones.', 'mmattn.models.necks.')):
        raise ValueError(f'module spec {spec.text!r}: {spec.type} is an insertion point, not a '
                         'module: name the module and its position, e.g. SE:after_stage')
    return 'module'


def _postfixed(cfgs: List[dict]) -> List[dict]:
    """Distinct names for repeated types (mmdet names a plugin ``_abbr_ + postfix``)."""
    seen: Dict[str, int] = {}
    out = []
    for cfg in cfgs:
        key = cfg['type'].rpartition('.')[2]
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1 and 'postfix' not in cfg:
            cfg = dict(cfg, postfix=seen[key])
        out.append(cfg)
    return out


def _groups(items: List[Tuple[dict, Stages]]) -> List[Tuple[List[dict], Stages]]:
    """Consecutive modules on the same outputs share one wrapper."""
    groups: List[Tuple[List[dict], Stages]] = []
    for cfg, stages in items:
        if groups and groups[-1][1] == stages:
            groups[-1][0].append(cfg)
        else:
            groups.append(([cfg], stages))
    return groups


def _indices(key: str, stages: Stages) -> dict:
    """``{key: [chosen indices]}``, or nothing when every one is chosen (the default)."""
    return {} if all(stages) else {key: [i for i, on in enumerate(stages) if on]}


def _minimal_override(base: Any, new: Any) -> Any:
    """What a child config sets so that mmengine's merge of it onto ``base`` gives ``new``."""
    if isinstance(new, dict):
        if isinstance(base, dict) and set(base) <= set(new):
            return {k: _minimal_override(base.get(k), v) for k, v in new.items()
                    if k not in base or base[k] != v}
        return dict(_delete_=True, **new)
    return new


def derive_model(cfg, specs: Sequence[ModuleSpec], identity_init: bool = False) -> Derivation:
    """The ``model`` of ``cfg`` with the base's attention replaced by ``specs``.

    Args:
        cfg (Config): The base config (its ``model`` and ``default_scope`` are read).
        specs (Sequence[ModuleSpec]): The modules, in the order they apply.
        identity_init (bool): Start every module as the identity (``IdentityInit``:
            plugins' ``identity_init``, the wrappers' own), so the network computes
            the base's function at iteration 0; ASFF, a neck, has no such start.

    Raises:
        ValueError: a position the backbone has not, stages of the wrong length, a
            type no registry knows (with the closest names), a model without a
            backbone or neck where a spec needs one.
    """
    base = _plain(cfg.get('model'))
    if not isinstance(base, dict) or not isinstance(base.get('backbone'), dict):
        raise ValueError('attention modules: the config has no model.backbone to put them in')
    scope = cfg.get('default_scope')
    model, removed = strip_attention(base)
    notes: List[str] = []
    placements: List[Placed] = []
    block_plugins: List[dict] = []
    stage_items: List[Tuple[dict, Stages]] = []
    neck_items: List[Tuple[str, dict, Stages]] = []

    backbone = model['backbone']
    backbone_cls = _lookup("the config's model", backbone, 'backbone', scope)
    resnet_like = _is_resnet_family(backbone_cls)
    block = _block_name(backbone_cls, backbone) if resnet_like else None
    counts: Dict[str, int] = {}

    def count(position: str) -> int:
        # One digit per ResNet stage, backbone output or neck level.
        if position not in counts:
            if position in BLOCK_POSITIONS:
                counts[position] = backbone.get('num_stages', 4)
            elif position == 'after_stage':
                counts[position] = len(_outputs('backbone'))
            else:
                if not isinstance(model.get('neck'), (dict, list)):
                    raise ValueError('the config\'s model has no neck: put the modules on the '
                                     'backbone outputs (TYPE:after_stage)')
                counts[position] = len(_outputs('neck'))
        return counts[position]

    probed: Dict[str, List[Tuple[int, int, int]]] = {}

    def _outputs(part: str) -> List[Tuple[int, int, int]]:
        if part not in probed:
            probed[part] = _probe(model, scope, part)
        return probed[part]

    for spec in specs:
        kind = _module_kind(spec, scope)
        check_module_args(spec, scope)
        paper = placement_of(spec.type)
        if kind == 'neck':
            default = 'after_neck'
        elif not resnet_like:
            default = 'after_stage'
        else:
            default = paper.position if paper is not None else None
        position = spec.position or default
        if position is None:
            raise ValueError(
                f'module spec {spec.text!r}: no default position for module type '
                f'{spec.type!r}; give one (e.g. {spec.type}:after_conv3:0111) or use one of '
                f'{sorted(paper_placements())}')
        if kind == 'neck' and position != 'after_neck':
            raise ValueError(f'module spec {spec.text!r}: {spec.type} is a neck: its position is '
                             f'after_neck, not {position}')
        if position in BLOCK_POSITIONS:
            if not resnet_like:
                raise ValueError(
                    f'module spec {spec.text!r}: {backbone_cls.__name__} has no ResNet blocks '
                    f'for {position}; put the module on its outputs: '
                    f'{spec.type}:after_stage[:STAGES]')
            if block == 'BasicBlock' and position == 'after_conv3':
                raise ValueError(
                    f'module spec {spec.text!r}: the base backbone is a ResNet-'
                    f'{backbone.get("depth")}, whose BasicBlock has no conv3: use after_conv1 '
                    f'or after_conv2 (e.g. {spec.type}:after_conv2)')

        def stages_at(pos: str) -> Stages:
            # The paper's ResNet stages: the first n of a ResNet with n stages; on other
            # backbones aligned at the last output (stride 32, like ResNet's stage 4).
            n = count(pos)
            if paper is None or pos == 'after_neck':
                return (True, ) * n
            if pos in BLOCK_POSITIONS:
                return paper.stages[:n] + (True, ) * (n - len(paper.stages))
            return ((False, ) * n + paper.stages)[-n:]

        if spec.stages is not None:
            stages = _check_stages(spec, spec.stages, count(position), {
                'after_stage': 'backbone output', 'after_neck': 'neck level'}.get(
                    position, 'backbone stage'))
        else:
            stages = stages_at(position)
        is_default = position == default and stages == stages_at(default)
        cfg_ = dict(type=spec.type, **spec.args)
        if position in BLOCK_POSITIONS:
            block_plugins.append(dict(cfg=cfg_, stages=stages, position=position,
                                      **({'identity_init': True} if identity_init else {})))
        elif position == 'after_stage':
            stage_items.append((cfg_, stages))
        else:
            neck_items.append((kind, cfg_, stages))
        placements.append(Placed(spec.type, position, stages, dict(spec.args), is_default,
                                 block if position in BLOCK_POSITIONS else None))

    if block_plugins:
        key = (backbone_cls.__module__, backbone_cls.__name__)
        if key in PLUGIN_FORMS:
            form, extra = PLUGIN_FORMS[key]
            notes.append(f'backbone {backbone["type"]} -> {form}: the same network and '
                         'parameter names, with blocks that take every plugin')
            backbone.update(type=form, **extra)
        elif not backbone_cls.__module__.startswith('mmattn.'):
            notes.append(f'backbone {backbone["type"]} kept: mmattn has no plugin form of it, '
                         'its own blocks build the plugins')
        cfgs = _postfixed([p['cfg'] for p in block_plugins])
        backbone['plugins'] = [dict(p, cfg=c) for p, c in zip(block_plugins, cfgs)]
    for cfgs, stages in _groups(stage_items):
        model['backbone'] = dict(
            type='AttentionBackbone', backbone=model['backbone'],
            in_channels=[c for c, _, _ in _outputs('backbone')], attentions=_postfixed(cfgs),
            **_indices('indices', stages), **_identity(identity_init))
    if neck_items:
        model['neck'] = _derive_neck(model['neck'], neck_items, _outputs('neck'), identity_init)
    override = {k: _minimal_override(base.get(k), model.get(k))
                for k in ('backbone', 'neck') if base.get(k) != model.get(k)}
    return Derivation(model, override, placements, removed, notes)


def _identity(on: bool) -> dict:
    return dict(identity_init=True) if on else {}


def _derive_neck(neck: Union[dict, list], items: List[Tuple[str, dict, Stages]],
                 levels: List[Tuple[int, int, int]], identity_init: bool = False
                 ) -> Union[dict, list]:
    chain = list(neck) if isinstance(neck, list) else [neck]
    channels = [c for c, _, _ in levels]
    heights = [h for _, h, _ in levels]
    attention: List[Tuple[dict, Stages]] = []

    def flush():
        for cfgs, stages in _groups(attention):
            if len(chain) == 1 and chain[0].get('type') != 'AttentionNeck':
                chain[0] = dict(type='AttentionNeck', neck=chain[0],
                                attention=_postfixed(cfgs), **_indices('levels', stages),
                                **_identity(identity_init))
            else:
                chain.append(dict(type='AttentionNeck', channels=channels,
                                  attention=_postfixed(cfgs), **_indices('levels', stages),
                                  **_identity(identity_init)))
        attention.clear()

    for kind, cfg, stages in items:
        if kind == 'module':
            attention.append((cfg, stages))
            continue
        flush()
        if not all(stages):
            raise ValueError(f'{cfg["type"]} fuses every neck level: give no stages')
        extra = {}
        if heights != sorted(heights, reverse=True):
            if heights != sorted(heights):
                raise ValueError(f'{cfg["type"]} fuses levels ordered by size; the neck\'s '
                                 f'levels have heights {heights} at a {PROBE_SIZE}x'
                                 f'{PROBE_SIZE} input')
            extra = dict(coarsest_first=True)  # YOLOV3Neck's order
        chain.append(dict(dict(type=cfg['type'], in_channels=channels, out_channels=channels,
                               **extra), **cfg))
    flush()
    return chain[0] if len(chain) == 1 else chain


def describe(derivation: Derivation, backbone_type: str = 'backbone') -> List[str]:
    """One line per placed module, then the switches and what was replaced."""
    lines = [describe_placed(p, backbone_type) + (f' with {p.args}' if p.args else '')
             for p in derivation.placements]
    lines += derivation.notes
    if derivation.removed:
        lines.append(f"replaced the base's {', '.join(derivation.removed)}")
    return lines


def apply_attention(cfg, specs: Sequence[Union[str, ModuleSpec]], logger: Any = 'current',
                    identity_init: bool = False) -> Derivation:
    """``--attention``: put ``specs`` into ``cfg.model`` (in place) and log the result.

    ``identity_init`` (``--identity-init``): the modules start as the identity.

    The model becomes :func:`derive_model`'s; ``custom_imports`` gains ``mmattn``
    (so the dumped config works with mmdet's and mmseg's own tools too). The log
    (rank 0; ``logger`` as mmengine's ``print_log`` takes it, None for none) says
    where each module went and prints the changed backbone/neck.
    """
    scope = cfg.get('default_scope')
    specs = [parse_module_spec(s, scope=scope) if isinstance(s, str) else s for s in specs]
    backbone_type = cfg.model.backbone.get('type', 'backbone')
    derivation = derive_model(cfg, specs, identity_init)
    cfg.model = derivation.model
    imports = cfg.get('custom_imports', None) or dict(imports=[], allow_failed_imports=False)
    if 'mmattn' not in imports['imports']:
        imports['imports'] = list(imports['imports']) + ['mmattn']
    cfg.custom_imports = imports
    cfg[RECORD_KEY] = attention_record(specs, identity_init)
    if logger is not None and os.environ.get('RANK', '0') == '0':
        changed = {k: derivation.model[k] for k in derivation.override}
        print_log('--attention ' + ' '.join(s.text for s in specs)
                  + (' (each starting as the identity)' if identity_init else '') + ':\n'
                  + ''.join(f'  {line}\n' for line in describe(derivation, backbone_type))
                  + 'The model now has:\n'
                  + render_model(changed).rstrip('\n'), logger=logger)
    return derivation


def restore_attention(cfg: Any, meta: Optional[Dict[str, Any]], tool: str,
                      given: Optional[Sequence[str]] = None, logger: Any = 'current'
                      ) -> Optional[List[str]]:
    """Apply the attention a checkpoint was trained with, where the config lacks it.

    Nothing is done when ``given`` (``--attention`` on the command line) is set, when the
    checkpoint carries no record, or when the config has attention of its own (a mismatch
    is then found by :func:`mmattn.models.utils.check_checkpoint_fits`). Returns the specs
    applied, or None.
    """
    record = record_of(meta)
    if given or record is None or has_attention(cfg.model):
        return None
    apply_attention(cfg, record['specs'], logger=None, identity_init=record['identity_init'])
    cfg[RECORD_KEY] = record
    start = ' (each starting as the identity)' if record['identity_init'] else ''
    print_log(f"{tool}: the checkpoint was trained with --attention {' '.join(record['specs'])}"
              f'{start}; the config has no attention: applied it', logger=logger)
    return record['specs']


def compose_config(cfg: Any, attention: Optional[Sequence[str]] = None,
                   identity_init: bool = False, meta: Optional[Dict[str, Any]] = None,
                   cfg_options: Optional[dict] = None, tool: str = 'mmattn tools') -> Any:
    """The one order in which every mmattn tool builds its config (in place; returned):

    1. ``attention`` (``--attention``) replaces the config's attention modules; on a base
       whose attention all starts as the identity (the zoo's) the new modules start so too,
       with ``identity_init`` (``--identity-init``) they always do. Without ``attention``, a
       checkpoint ``meta`` that records the attention the checkpoint was trained with brings
       it back into a config without attention (:func:`restore_attention`).
    2. ``cfg_options`` (``--cfg-options``, dotted keys) apply to the result, so they can
       change the inserted modules' arguments (``model.backbone.plugins.0.cfg.reduction=4``);
       a key the result does not have is refused with a sentence naming it.
    """
    if attention:
        inherit = not identity_init and starts_as_identity(cfg.model)
        apply_attention(cfg, attention, identity_init=identity_init or inherit)
        if inherit:
            print_log(f"{tool}: the config's own modules start as the identity "
                      '(identity_init=True), so the modules of --attention do too; '
                      '--cfg-options can turn it off per plugin', logger='current')
    elif identity_init:
        raise ValueError(f'{tool}: --identity-init applies to the modules of --attention: '
                         'give --attention too (a config sets identity_init in its plugins)')
    elif meta is not None:
        restore_attention(cfg, meta, tool)
    if cfg_options:
        try:
            cfg.merge_from_dict(cfg_options)
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            after = ' the model --attention made in' if attention else ''
            options = ' '.join(f'{k}={v}' for k, v in cfg_options.items())
            raise ValueError(
                f'{tool}: --cfg-options {options} cannot be applied to{after} the config: '
                f'{error}. --cfg-options apply after --attention, to the derived model, '
                'which the log prints') from None
    return cfg


def describe_placed(placed: Placed, backbone_type: str = 'backbone') -> str:
    """Where a derived config puts its module, in words (stages and outputs 1-based).

    ``'CBAM after conv3 (the 1x1 expansion) of every bottleneck in stages 2-4'``,
    ``'SE on outputs 2-4 of the HRNet'``, ``'ECA on every level of the neck'``.
    """
    if placed.position in BLOCK_POSITIONS:
        block = 'basic block' if placed.block == 'BasicBlock' else 'bottleneck'
        return describe_placement(placed.type, placed.position, placed.stages, block)
    noun = 'output' if placed.position == 'after_stage' else 'level'
    owner = f'the {backbone_type}' if placed.position == 'after_stage' else 'the neck'
    if all(placed.stages):
        return f'{placed.type} on every {noun} of {owner}'
    where = describe_stages(placed.stages).replace('stage', noun, 1)
    return f'{placed.type} on {where} of {owner}'


__all__ = ['PLUGIN_FORMS', 'PROBE_SIZE', 'Placed', 'Derivation', 'derive_model',
           'apply_attention', 'restore_attention', 'compose_config', 'describe',
           'describe_placed', 'build_parts', 'check_builds']
