"""Config files with attention modules: the checked-in zoo and sweep-derived configs.

Both are small files on top of a ``_base_``: the base's model with
``model.backbone.plugins`` set (and ``custom_imports`` so that mmattn's types
resolve). The zoo under ``configs/det`` and ``configs/seg`` is written by
``tools/misc/gen_configs.py`` from :data:`~mmattn.sweep.positions.PAPER_PLACEMENTS`
(every module at its paper's position in mmattn's ``PluginResNet``/``V1c``,
starting as the identity) and :data:`~mmattn.sweep.pretrained.PRETRAINED_ZOO`
(the modules with ImageNet weights trained with them, from the converted
checkpoint); a test checks that the checked-in files equal :func:`zoo_files`.
"""
import os
import os.path as osp
import re
import tempfile
import textwrap
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple, Union

from mmattn.files import config_file
from .derive import ModuleSpec, Placed, check_builds, derive_model, parse_module_spec, parse_stages
from .positions import PAPER_PLACEMENTS, Placement, Stages, describe_stages
from .pretrained import PRETRAINED_ZOO, convert_command, converted_checkpoint

POSITIONS = ('after_conv1', 'after_conv2', 'after_conv3')
_POSITION_WORDS = {
    'after_conv1': 'after conv1 (the 1x1 reduction)',
    'after_conv2': 'after conv2 (the 3x3 conv)',
    'after_conv3': 'after conv3 (the 1x1 expansion)',
}
CUSTOM_IMPORTS = "custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)"
LINE_LENGTH = 100
GENERATED_NOTE = 'Generated from mmattn/sweep/positions.py by tools/misc/gen_configs.py.'


class ZooModel(NamedTuple):
    """A base model of the zoo and how its files are named."""

    folder: str  # under configs/
    base: str  # the `_base_` string
    title: str  # for the comment line
    name: str  # file stem, with `{abbr}` where the module's short name goes
    stage_note: Dict[Stages, str]  # why these stages, per stage choice
    task: str  # 'det' (mmdet) or 'seg' (mmseg)
    backbone: str  # mmattn's plugin-capable class of the base's ResNet
    # File stem of the variants from an ImageNet checkpoint with the module: `{backbone}`
    # (mmdet/mmseg's short name of the converted backbone) and `{abbr}` filled in.
    pretrained_name: str


_DET_NOTES = {
    (False, True, True, True): 'stage 1 is frozen in the base config (frozen_stages=1), so a '
                               'module there would keep its random initialization',
    (False, False, False, True): "the paper's last, stride-32 stage",
}
_SEG_NOTES = {
    (False, True, True, True): 'stage 1 is left out as in the detection configs',
    (False, False, False, True): "the paper's last stage, here dilated at stride 8",
}

ZOO_MODELS: Tuple[ZooModel, ...] = (
    ZooModel('det/faster_rcnn', 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
             'Faster R-CNN R-50-FPN 1x on COCO', 'faster-rcnn_r50-{abbr}_fpn_1x_coco', _DET_NOTES,
             'det', 'PluginResNet', 'faster-rcnn_{backbone}-{abbr}-in1k_fpn_1x_coco'),
    ZooModel('det/retinanet', 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
             'RetinaNet R-50-FPN 1x on COCO', 'retinanet_r50-{abbr}_fpn_1x_coco', _DET_NOTES,
             'det', 'PluginResNet', 'retinanet_{backbone}-{abbr}-in1k_fpn_1x_coco'),
    ZooModel('det/mask_rcnn', 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
             'Mask R-CNN R-50-FPN 1x on COCO', 'mask-rcnn_r50-{abbr}_fpn_1x_coco', _DET_NOTES,
             'det', 'PluginResNet', 'mask-rcnn_{backbone}-{abbr}-in1k_fpn_1x_coco'),
    ZooModel('seg/fcn', 'mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py',
             'FCN R-50-D8 80k on ADE20K 512x512', 'fcn_r50-d8-{abbr}_4xb4-80k_ade20k-512x512',
             _SEG_NOTES, 'seg', 'PluginResNetV1c',
             'fcn_{backbone}-d8-{abbr}-in1k_4xb4-80k_ade20k-512x512'),
)
# mmdet's and mmseg's short names of the backbones a converted checkpoint loads into:
# mmseg calls the plain-stem ResNet r50b (pspnet_r50b-d8), V1c r50, V1d r50d.
_BACKBONE_NAMES = {'PluginResNet': 'r{depth}', 'ResNeXt': 'x{depth}-{groups}x{base_width}d',
                   'PluginResNetV1b': 'r{depth}b', 'PluginResNetV1c': 'r{depth}',
                   'PluginResNetV1d': 'r{depth}d'}
IDENTITY_NOTE = ('The module starts as the identity (identity_init=True: y = x + s * (m(x) - x), '
                 's = 0 at initialisation), so at iteration 0 the model computes exactly what '
                 "the base's pretrained model computes.")

ASFF_CONFIG = ('det/retinanet/retinanet_r50_fpn-asff_1x_coco.py', """\
# RetinaNet R-50-FPN 1x on COCO with ASFF (Learning Spatial Fusion for Single-Shot
# Object Detection, 2019) after the FPN: each of the five levels P3-P7 becomes a
# learned, per-pixel weighted sum of all five.
# {note}
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

{imports}

model = dict(
    neck=[
        # The base config's FPN (RetinaNet P3-P7), unchanged.
        dict(
            type='FPN',
            in_channels=[256, 512, 1024, 2048],
            out_channels=256,
            start_level=1,
            add_extra_convs='on_input',
            num_outs=5),
        dict(type='ASFF', in_channels=[256] * 5, out_channels=256),
    ])
""".format(note=GENERATED_NOTE, imports=CUSTOM_IMPORTS))


YOLO_ASFF_CONFIG = ('det/yolo/yolov3_d53_asff_8xb8-ms-608-273e_coco.py', """\
# YOLOv3 (Darknet-53, YOLOV3Neck) 273e on COCO with ASFF (Learning Spatial Fusion
# for Single-Shot Object Detection, 2019) over the neck's three levels, the
# paper's own setting: each level (strides 32, 16, 8; 512, 256, 128 channels)
# becomes a learned, per-pixel weighted sum of all three, and keeps its channels
# for the base's YOLOV3Head. Only ASFF is added to the base's recipe: the
# paper's stronger YOLOv3 baseline (its bag of training tricks, anchor guiding
# and IoU loss) is not.
# {note}
_base_ = 'mmdet::yolo/yolov3_d53_8xb8-ms-608-273e_coco.py'

{imports}

model = dict(
    neck=[
        # The base config's YOLOV3Neck, unchanged; its outputs come coarsest first.
        dict(
            type='YOLOV3Neck',
            num_scales=3,
            in_channels=[1024, 512, 256],
            out_channels=[512, 256, 128]),
        dict(
            type='ASFF',
            in_channels=[512, 256, 128],
            out_channels=[512, 256, 128],
            coarsest_first=True),
    ])
""".format(note=GENERATED_NOTE, imports=CUSTOM_IMPORTS))


def to_python(obj) -> str:
    """Config-file source for ``obj``: ``dict(a=1)`` rather than ``{'a': 1}``."""
    if isinstance(obj, dict):
        return 'dict(' + ', '.join(f'{k}={to_python(v)}' for k, v in obj.items()) + ')'
    if isinstance(obj, tuple):
        inner = ', '.join(to_python(v) for v in obj)
        return f'({inner},)' if len(obj) == 1 else f'({inner})'
    if isinstance(obj, list):
        return '[' + ', '.join(to_python(v) for v in obj) + ']'
    return repr(obj)


def plugin(module_type: str, position: str, stages: Sequence[bool]) -> dict:
    """One entry of a ResNet's ``plugins`` list."""
    return dict(cfg=dict(type=module_type), stages=tuple(bool(s) for s in stages),
                position=position)


def render_plugins(plugins: Optional[List[dict]]) -> str:
    """The ``model = dict(backbone=dict(plugins=...))`` block of a config."""
    if plugins is None:
        return 'model = dict(backbone=dict(plugins=None))\n'
    lines = ['model = dict(', '    backbone=dict(plugins=[']
    for p in plugins:
        one_line = f'        {to_python(p)},'
        if len(one_line) <= LINE_LENGTH:
            lines.append(one_line)
        else:
            lines.append('        dict(')
            items = [f'            {k}={to_python(v)}' for k, v in p.items()]
            lines.append(',\n'.join(items) + '),')
    lines.append('    ]))')
    return '\n'.join(lines) + '\n'


def render_config(base: str, comment: str, plugins: Optional[List[dict]],
                  imports: str = CUSTOM_IMPORTS) -> str:
    """A config file: comment, ``_base_``, ``custom_imports`` and the plugins."""
    wrapped = textwrap.wrap(comment, width=LINE_LENGTH - 2 - 18)
    head = ''.join(f'# {line}\n' for line in wrapped)
    return f'{head}_base_ = {base!r}\n\n{imports}\n\n{render_plugins(plugins)}'


def format_value(obj, indent: int = 0, column: int = 0) -> str:
    """Config-file source for ``obj`` starting at ``column`` on a line indented ``indent``.

    One line if it fits (with room for a closing bracket and comma), else one
    item per line, each four spaces deeper, as yapf formats mmdet's configs.
    """
    flat = to_python(obj)
    if column + len(flat) <= LINE_LENGTH - 3 or not isinstance(obj, (dict, list)) or not obj:
        return flat
    inner = indent + 4
    pad = ' ' * inner
    if isinstance(obj, dict):
        items = [f'{pad}{k}={format_value(v, inner, inner + len(k) + 1)}' for k, v in obj.items()]
        return 'dict(\n' + ',\n'.join(items) + ')'
    items = [f'{pad}{format_value(v, inner, inner)},' for v in obj]
    return '[\n' + '\n'.join(items) + '\n' + ' ' * indent + ']'


def render_model(model: dict) -> str:
    """The ``model = dict(...)`` block of a config, formatted to the line length."""
    return f'model = {format_value(model, 0, len("model = "))}\n'


def comment_lines(text: str, verbatim: Sequence[str] = ()) -> str:
    """``# `` lines: ``text`` wrapped, then ``verbatim`` lines as they are."""
    wrapped = textwrap.wrap(text, width=LINE_LENGTH - 2 - 18)
    return ''.join(f'# {line}\n' for line in list(wrapped) + list(verbatim))


def describe_placement(module_type: str, position: str, stages: Sequence[bool],
                       block: str = 'bottleneck') -> str:
    """``'CBAM after conv3 (the 1x1 expansion) of every bottleneck in stages 2-4'``."""
    if block == 'bottleneck':
        where = _POSITION_WORDS.get(position, position)
    else:
        where = position.replace('_', ' ')
    return f'{module_type} {where} of every {block} in {describe_stages(stages)}'


def zoo_files() -> Dict[str, str]:
    """Every generated config: path relative to ``configs/`` -> file text."""
    files = {}
    for model in ZOO_MODELS:
        for module_type, place in PAPER_PLACEMENTS.items():
            where = describe_placement(module_type, place.position, place.stages)
            comment = (f'{model.title} with {where}: the position of its paper '
                       f'({place.paper}); {model.stage_note[place.stages]}. {IDENTITY_NOTE} '
                       f'{GENERATED_NOTE}')
            path = f'{model.folder}/{model.name.format(abbr=place.abbr)}.py'
            plugins = [dict(plugin(module_type, place.position, place.stages),
                            identity_init=True)]
            files[path] = (f'{comment_lines(comment)}_base_ = {model.base!r}\n\n'
                           f'{CUSTOM_IMPORTS}\n\n'
                           + render_model(dict(backbone=dict(type=model.backbone,
                                                             plugins=plugins))))
        for module_type, source in PRETRAINED_ZOO.items():
            path, text = _pretrained_config(model, module_type, source)
            files[path] = text
    files[ASFF_CONFIG[0]] = ASFF_CONFIG[1]
    files[YOLO_ASFF_CONFIG[0]] = YOLO_ASFF_CONFIG[1]
    return dict(sorted(files.items()))


def describe_plugins(plugins: Sequence[dict]) -> str:
    """``'ECA (kernel_size=3) after conv3 (the 1x1 expansion) of every bottleneck in stage 1,
    ...'``."""
    parts = []
    for p in plugins:
        cfg = dict(p['cfg'])
        module_type = cfg.pop('type')
        args = ', '.join(f'{k}={v}' for k, v in cfg.items())
        name = f'{module_type} ({args})' if args else module_type
        parts.append(describe_placement(name, p['position'], p['stages']))
    return '; '.join(parts)


def _pretrained_config(model: ZooModel, module_type: str, source) -> Tuple[str, str]:
    """A zoo config that starts from an ImageNet checkpoint trained with the module."""
    from mmattn.converters import get_arch, published_backbone
    arch = get_arch(source.family, source.arch)
    _, backbone = published_backbone(source.family, source.arch, model.task)
    short = _BACKBONE_NAMES[backbone['type']].format(**backbone)
    abbr = PAPER_PLACEMENTS[module_type].abbr
    path = f'{model.folder}/{model.pretrained_name.format(backbone=short, abbr=abbr)}.py'
    checkpoint = converted_checkpoint(source.family, source.arch)
    backbone.pop('depth')  # the base's ResNet-50
    stem = ''
    if model.task == 'seg' and backbone['type'] == 'PluginResNetV1b':
        stem = (" The checkpoint's plain 7x7 stem replaces the base's ResNetV1c deep stem "
                '(PluginResNetV1b, mmseg\'s r50b); the dilations are the base\'s.')
    frozen = (' Stage 1 is frozen with its pretrained modules (frozen_stages=1).'
              if model.task == 'det' else '')
    comment = (f'{model.title}, backbone pretrained on ImageNet with its {module_type} modules: '
               f'{source.family} {source.arch} ({arch.note}; top-1 {arch.top1}). '
               f'{describe_plugins(backbone["plugins"])}, where the checkpoint has them.'
               f'{frozen}{stem} {GENERATED_NOTE.replace("positions.py", "pretrained.py")}')
    url_line = f'Weights: {arch.weights}'
    if len(url_line) + 2 > LINE_LENGTH:
        url_line += '  # noqa: E501'
    verbatim = [url_line, 'Convert them first (writes the checkpoint below):']
    command = convert_command(source.family, source.arch, arch.weights)
    verbatim += [f'  {line}' for line in command]
    if model.task == 'det':
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
        body = dict(backbone=backbone)
    else:
        body = dict(pretrained=checkpoint, backbone=backbone)
    text = (f'{comment_lines(comment, verbatim)}_base_ = {model.base!r}\n\n{CUSTOM_IMPORTS}\n\n'
            + render_model(body))
    return path, text


def write_zoo(config_dir: str) -> List[str]:
    """Write :func:`zoo_files` under ``config_dir``; the paths whose text changed."""
    changed = []
    for rel, text in zoo_files().items():
        path = osp.join(config_dir, rel)
        if osp.isfile(path):
            with open(path, encoding='utf-8') as f:
                if f.read() == text:
                    continue
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(text)
        changed.append(rel)
    return changed


# ----------------------------------------------------------------------------- sweeps


class SweepEntry(NamedTuple):
    """One run of a sweep: a derived config and what it puts where."""

    name: str  # config stem, also the work dir's name
    config: str  # path of the derived config file
    module_type: Optional[str]  # None for the baseline
    position: Optional[str]
    stages: Optional[Stages]


_POSITION_TAGS = {'after_conv1': 'c1', 'after_conv2': 'c2', 'after_conv3': 'c3',
                  'after_stage': 'out', 'after_neck': 'neck'}


def _abbr(placed: Placed) -> str:
    """The short name a derived config carries: the table's, plus where if not the default."""
    name = placed.type.split('.', 1)[-1]
    place: Optional[Placement] = PAPER_PLACEMENTS.get(name)
    abbr = place.abbr if place else name.lower()
    if placed.args:
        abbr += '-' + '-'.join(f'{k.replace("_", "")}{_arg_tag(v)}'
                               for k, v in placed.args.items())
    if not placed.is_default:
        digits = ''.join(str(i + 1) for i, on in enumerate(placed.stages) if on)
        abbr += f'-{_POSITION_TAGS[placed.position]}-s{digits}'
    return abbr


def _arg_tag(value) -> str:
    text = re.sub(r'[^A-Za-z0-9.]+', '', str(value))
    return text[:12] or 'x'


def derived_name(base_stem: str, tag: Optional[str], field: int = 1) -> str:
    """Insert ``-tag`` into a field of an OpenMMLab config name (1: the backbone's).

    ``retinanet_r50_fpn_1x_coco`` -> ``retinanet_r50-cbam_fpn_1x_coco``, as mmdet
    names its plugin configs (``field=2``, the neck's: ``retinanet_r50_fpn-asff_1x_coco``);
    a name with fewer fields gets the tag in its last one, or ``_tag`` appended.
    """
    if not tag:
        return base_stem
    fields = base_stem.split('_')
    if len(fields) < 2:
        return f'{base_stem}_{tag}'
    field = min(field, len(fields) - 2) if len(fields) > 2 else 1
    fields[field] = f'{fields[field]}-{tag}'
    return '_'.join(fields)


def _strip_plugin_tags(base_stem: str, module_types: Sequence[str]) -> str:
    """Drop the base's own module tags: ``retinanet_r50-se_fpn`` -> ``retinanet_r50_fpn``."""
    fields = base_stem.split('_')
    if len(fields) < 2:
        return base_stem
    for module_type in module_types:
        name = module_type.split('.', 1)[-1]
        place = PAPER_PLACEMENTS.get(name)
        abbr = re.escape(place.abbr if place else name.lower())
        for i in range(1, len(fields)):
            fields[i], hits = re.subn(f'-{abbr}(?=-|$)', '', fields[i], count=1)
            if hits:
                break
    return '_'.join(fields)


def _load_through_stub(base_ref: str, folder: str):
    """Load a config by ``_base_`` reference (a path or ``mmdet::...``) as a child would."""
    from mmengine.config import Config
    fd, stub = tempfile.mkstemp(suffix='.py', prefix='.sweep_base_', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(f'_base_ = {base_ref!r}\n')
        return Config.fromfile(stub)
    finally:
        os.remove(stub)


def _render_derived(base_ref: str, comment: str, imports: str, override: dict) -> str:
    wrapped = textwrap.wrap(comment, width=LINE_LENGTH - 2)
    head = ''.join(f'# {line}\n' for line in wrapped)
    body = f'\n{render_model(override)}' if override else ''
    return f'{head}_base_ = {base_ref!r}\n\n{imports}\n{body}'


def derive_configs(base_config: str, specs: Iterable[Union[str, ModuleSpec]], out_dir: str,
                   baseline: bool = True, check: bool = True,
                   identity_init: bool = False) -> List[SweepEntry]:
    """Write one config per module spec on top of ``base_config``.

    Each derived config is ``_base_`` (the base, by relative path, or verbatim
    when it is a package reference such as ``mmdet::retinanet/...``) plus
    ``custom_imports`` and what :func:`~mmattn.sweep.derive.derive_model` changes
    in ``model``: the backbone (its plugin-capable form with ``plugins``, or an
    ``AttentionBackbone``) or the neck. The base's own attention is replaced.
    With ``baseline``, a first config is the base without attention.

    Args:
        check (bool): Build the backbone and neck of every derived config before
            writing any, so that only configs that build are written.
        identity_init (bool): The modules start as the identity (see
            :func:`~mmattn.sweep.derive.derive_model`).

    Returns:
        list[SweepEntry]: baseline first, then the modules in the given order.
    """
    specs = [parse_module_spec(s) if isinstance(s, str) else s for s in specs]
    config_file('sweep', base_config, 'base config')  # before anything is written
    os.makedirs(out_dir, exist_ok=True)
    if '::' in base_config:
        base_ref = base_config
        base_stem = osp.splitext(osp.basename(base_config.split('::', 1)[1]))[0]
    else:
        base_abs, out_abs = osp.abspath(base_config), osp.abspath(out_dir)
        # Relative inside one tree (the sweep moves with the repository), else absolute.
        shared = osp.commonpath([base_abs, out_abs])
        base_ref = osp.relpath(base_abs, out_abs) if shared != osp.dirname(shared) else base_abs
        base_stem = osp.splitext(osp.basename(base_config))[0]
    base_cfg = _load_through_stub(base_ref, out_dir)
    imports = list(base_cfg.get('custom_imports', {}).get('imports', []))
    if 'mmattn' not in imports:
        imports.append('mmattn')
    imports_line = ('custom_imports = dict(imports=' + to_python(imports)
                    + ', allow_failed_imports=False)')

    runs: List[Optional[ModuleSpec]] = ([None] if baseline else []) + list(specs)
    derived = [derive_model(base_cfg, [] if spec is None else [spec], identity_init)
               for spec in runs]
    removed = derived[0].removed
    base_stem = _strip_plugin_tags(base_stem, [r.split()[0] for r in removed])
    removed_text = ', '.join(removed)
    backbone_type = base_cfg.model.backbone.get('type', 'backbone')
    entries, seen = [], set()
    for spec, derivation in zip(runs, derived):
        if spec is None:
            placed = None
            comment = f'Sweep baseline: {base_stem} without attention modules.'
            comment += f" The base's {removed_text} taken out." if removed else ''
            name = base_stem
        else:
            (placed, ) = derivation.placements
            field = 2 if placed.position == 'after_neck' else 1
            name = derived_name(base_stem, _abbr(placed), field)
            comment = (f'Sweep of {base_stem}: {describe_placed(placed, backbone_type)}.'
                       + ''.join(f' {n[0].upper()}{n[1:]}.' for n in derivation.notes))
            comment += f" Replaces the base's {removed_text}." if removed else ''
        if name in seen:
            raise ValueError(f'sweep: {name} is asked for twice')
        seen.add(name)
        text = _render_derived(base_ref, f'{comment} Written by tools/sweep.py.',
                               imports_line, derivation.override)
        entries.append((SweepEntry(name, osp.join(out_dir, name + '.py'),
                                   placed and placed.type, placed and placed.position,
                                   placed and placed.stages), text, derivation))
    if check:
        for entry, _, derivation in entries:
            check_builds(base_cfg, derivation, entry.name)
    # Written once every request is known to be valid: an error leaves no half sweep.
    for entry, text, _ in entries:
        with open(entry.config, 'w', encoding='utf-8') as f:
            f.write(text)
    return [entry for entry, _, _ in entries]


def describe_placed(placed: Placed, backbone_type: str = 'backbone') -> str:
    """Where a derived config puts its module, in words (stages and outputs 1-based).

    ``'CBAM after conv3 (the 1x1 expansion) of every bottleneck in stages 2-4'``,
    ``'SE on outputs 2-4 of the HRNet'``, ``'ECA on every level of the neck'``.
    """
    if placed.position in POSITIONS:
        block = 'basic block' if placed.block == 'BasicBlock' else 'bottleneck'
        return describe_placement(placed.type, placed.position, placed.stages, block)
    noun = 'output' if placed.position == 'after_stage' else 'level'
    owner = f'the {backbone_type}' if placed.position == 'after_stage' else 'the neck'
    if all(placed.stages):
        return f'{placed.type} on every {noun} of {owner}'
    where = describe_stages(placed.stages).replace('stage', noun, 1)
    return f'{placed.type} on {where} of {owner}'


__all__ = ['ZOO_MODELS', 'ASFF_CONFIG', 'POSITIONS', 'SweepEntry', 'zoo_files', 'write_zoo',
           'render_config', 'plugin', 'to_python', 'parse_stages', 'parse_module_spec',
           'derive_configs', 'derived_name', 'describe_placement', 'describe_placed']
