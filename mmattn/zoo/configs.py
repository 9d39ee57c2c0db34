"""The checked-in config zoo: every module at its paper's position in four base models.

The zoo is laid out as OpenMMLab's: one folder per module family under ``configs/``
(``configs/<family>/``, the family and the short name in the file names being facts of the
module's class), each a few lines on top of an mmdet or mmseg base
(``_base_ = 'mmdet::...'``), named ``{algorithm}_{backbone}-{module}_{neck}_{schedule}_{data}``.
Every module the registry lists with a default place (:func:`mmattn.config.paper_placements`)
gets a Faster R-CNN, RetinaNet, Mask R-CNN and FCN config in mmattn's ``PluginResNet``
(mmseg: ``PluginResNetV1c``), starting as the identity; the modules with ImageNet weights
trained with them (:data:`~mmattn.zoo.pretrained.PRETRAINED_ZOO`) also get ``-in1k``
configs that start from the converted checkpoint; ASFF has its RetinaNet and YOLOv3 configs.
``tools/misc/gen_configs.py`` writes them (and each folder's ``README.md`` and
``metafile.yml``, :mod:`mmattn.zoo.docs`); a test checks the checked-in files equal
:func:`mmattn.zoo.zoo_files`.
"""
from typing import Dict, List, NamedTuple, Sequence, Tuple

from mmattn.config import (CUSTOM_IMPORTS, LINE_LENGTH, Placement, Stages, comment_lines,
                           describe_placement, paper_placements, render_model)
from mmattn.converters import get_arch, published_backbone
from mmattn.models import ASFF, list_attention_modules
from .pretrained import PRETRAINED_ZOO, PretrainedSource, convert_command, converted_checkpoint

GENERATED_NOTE = "Generated from the modules' facts by tools/misc/gen_configs.py."


class ZooModel(NamedTuple):
    """A base model of the zoo and how its files are named."""

    base: str  # the `_base_` string
    title: str  # for the comment line
    name: str  # file stem, with `{abbr}` where the module's short name goes
    stage_note: Dict[Stages, str]  # why these stages, per stage choice
    task: str  # 'det' (mmdet) or 'seg' (mmseg)
    backbone: str  # mmattn's plugin-capable class of the base's ResNet
    # File stem of the variants from an ImageNet checkpoint with the module: `{backbone}`
    # (mmdet/mmseg's short name of the converted backbone) and `{abbr}` filled in.
    pretrained_name: str
    dataset: str  # for the metafile


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
    ZooModel('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
             'Faster R-CNN R-50-FPN 1x on COCO', 'faster-rcnn_r50-{abbr}_fpn_1x_coco', _DET_NOTES,
             'det', 'PluginResNet', 'faster-rcnn_{backbone}-{abbr}-in1k_fpn_1x_coco', 'COCO'),
    ZooModel('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
             'RetinaNet R-50-FPN 1x on COCO', 'retinanet_r50-{abbr}_fpn_1x_coco', _DET_NOTES,
             'det', 'PluginResNet', 'retinanet_{backbone}-{abbr}-in1k_fpn_1x_coco', 'COCO'),
    ZooModel('mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
             'Mask R-CNN R-50-FPN 1x on COCO', 'mask-rcnn_r50-{abbr}_fpn_1x_coco', _DET_NOTES,
             'det', 'PluginResNet', 'mask-rcnn_{backbone}-{abbr}-in1k_fpn_1x_coco', 'COCO'),
    ZooModel('mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py',
             'FCN R-50-D8 80k on ADE20K 512x512', 'fcn_r50-d8-{abbr}_4xb4-80k_ade20k-512x512',
             _SEG_NOTES, 'seg', 'PluginResNetV1c',
             'fcn_{backbone}-d8-{abbr}-in1k_4xb4-80k_ade20k-512x512', 'ADE20K'),
)
# mmdet's and mmseg's short names of the backbones a converted checkpoint loads into:
# mmseg calls the plain-stem ResNet r50b (pspnet_r50b-d8), V1c r50, V1d r50d.
_BACKBONE_NAMES = {'PluginResNet': 'r{depth}', 'ResNeXt': 'x{depth}-{groups}x{base_width}d',
                   'PluginResNetV1b': 'r{depth}b', 'PluginResNetV1c': 'r{depth}',
                   'PluginResNetV1d': 'r{depth}d'}
IDENTITY_NOTE = ('The module starts as the identity (identity_init=True: y = x + s * (m(x) - x), '
                 's = 0 at initialisation), so at iteration 0 the model computes exactly what '
                 "the base's pretrained model computes.")


class ZooConfig(NamedTuple):
    """One generated config, with what its folder's README and metafile say about it."""

    path: str  # relative to configs/
    text: str
    module: str  # the module type (or the neck, ASFF)
    family: str
    base: str
    where: str  # where the module is, in words
    pretrained: str  # where the backbone's weights come from, in words
    dataset: str


_ASFF_RETINANET = f"""\
# RetinaNet R-50-FPN 1x on COCO with ASFF (Learning Spatial Fusion for Single-Shot
# Object Detection, 2019) after the FPN: each of the five levels P3-P7 becomes a
# learned, per-pixel weighted sum of all five.
# {GENERATED_NOTE}
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'

{CUSTOM_IMPORTS}

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
"""

_ASFF_YOLO = f"""\
# YOLOv3 (Darknet-53, YOLOV3Neck) 273e on COCO with ASFF (Learning Spatial Fusion
# for Single-Shot Object Detection, 2019) over the neck's three levels, the
# paper's own setting: each level (strides 32, 16, 8; 512, 256, 128 channels)
# becomes a learned, per-pixel weighted sum of all three, and keeps its channels
# for the base's YOLOV3Head. Only ASFF is added to the base's recipe: the
# paper's stronger YOLOv3 baseline (its bag of training tricks, anchor guiding
# and IoU loss) is not.
# {GENERATED_NOTE}
_base_ = 'mmdet::yolo/yolov3_d53_8xb8-ms-608-273e_coco.py'

{CUSTOM_IMPORTS}

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
"""


def _plugin(module_type: str, position: str, stages: Sequence[bool]) -> dict:
    """One entry of a ResNet's ``plugins`` list."""
    return dict(cfg=dict(type=module_type), stages=tuple(bool(s) for s in stages),
                position=position)


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


def _module_config(model: ZooModel, module_type: str, place: Placement,
                   family: str) -> ZooConfig:
    where = describe_placement(module_type, place.position, place.stages)
    comment = (f'{model.title} with {where}: the position of its paper ({place.paper}); '
               f'{model.stage_note[place.stages]}. {IDENTITY_NOTE} {GENERATED_NOTE}')
    path = f'{family}/{model.name.format(abbr=place.short_name)}.py'
    plugins = [dict(_plugin(module_type, place.position, place.stages), identity_init=True)]
    text = (f'{comment_lines(comment)}_base_ = {model.base!r}\n\n{CUSTOM_IMPORTS}\n\n'
            + render_model(dict(backbone=dict(type=model.backbone, plugins=plugins))))
    return ZooConfig(path, text, module_type, family, model.base, where,
                     "the base's (ImageNet, without the module)", model.dataset)


def _pretrained_config(model: ZooModel, module_type: str, source: PretrainedSource,
                       place: Placement, family: str) -> ZooConfig:
    """A zoo config that starts from an ImageNet checkpoint trained with the module."""
    arch = get_arch(source.family, source.arch)
    _, backbone = published_backbone(source.family, source.arch, model.task)
    short = _BACKBONE_NAMES[backbone['type']].format(**backbone)
    name = model.pretrained_name.format(backbone=short, abbr=place.short_name)
    path = f'{family}/{name}.py'
    checkpoint = converted_checkpoint(source.family, source.arch)
    backbone.pop('depth')  # the base's ResNet-50
    stem = ''
    if model.task == 'seg' and backbone['type'] == 'PluginResNetV1b':
        stem = (" The checkpoint's plain 7x7 stem replaces the base's ResNetV1c deep stem "
                '(PluginResNetV1b, mmseg\'s r50b); the dilations are the base\'s.')
    frozen = (' Stage 1 is frozen with its pretrained modules (frozen_stages=1).'
              if model.task == 'det' else '')
    where = describe_plugins(backbone['plugins'])
    comment = (f'{model.title}, backbone pretrained on ImageNet with its {module_type} modules: '
               f'{source.family} {source.arch} ({arch.note}; top-1 {arch.top1}). '
               f'{where}, where the checkpoint has them.{frozen}{stem} {GENERATED_NOTE}')
    url_line = f'Weights: {arch.weights}'
    if len(url_line) + 2 > LINE_LENGTH:
        url_line += '  # noqa: E501'
    verbatim = [url_line, 'Convert them first (writes the checkpoint below):']
    verbatim += [f'  {line}' for line in convert_command(source.family, source.arch,
                                                         arch.weights)]
    if model.task == 'det':
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=checkpoint)
        body = dict(backbone=backbone)
    else:
        body = dict(pretrained=checkpoint, backbone=backbone)
    text = (f'{comment_lines(comment, verbatim)}_base_ = {model.base!r}\n\n{CUSTOM_IMPORTS}\n\n'
            + render_model(body))
    return ZooConfig(path, text, module_type, family, model.base, where,
                     f'{source.family} {source.arch}, converted (top-1 {arch.top1})',
                     model.dataset)


EVERY_ATTENTION = 'demo/retinanet_r18-every-attention_fpn-asff_300i_toy-coco.py'


def every_attention_config() -> str:
    """The demo's RetinaNet R-18 with every registered 2D module and ASFF: the detector the
    attention figures are timed and tested on. Each module goes into a BasicBlock (conv1 and
    conv2 only) one place earlier than its default in a Bottleneck (after conv3 -> after
    conv2, after conv2 -> after conv1), in stage 4 if its default is the last stage, else in
    stage 2 if it shows spatial or per-row/column maps (the finest maps), else in stage 3."""
    stage_names = {1: 'STAGE_2', 2: 'STAGE_3', 3: 'STAGE_4'}
    entries = []
    for name, cls in list_attention_modules().items():
        place = cls.placement()
        if place is None:
            continue
        kinds = {spec.kind for spec in cls._maps_.values()}
        if tuple(place.stages) == (False, False, False, True):
            stage = 3
        elif kinds & {'spatial', 'profile'}:
            stage = 1
        else:
            stage = 2
        position = 'after_conv2' if place.position == 'after_conv3' else 'after_conv1'
        entries.append((stage, name, position))
    lines = [f"        dict(cfg=dict(type='{name}'), stages={stage_names[stage]}, "
             f"position='{position}'),"
             for stage, name, position in sorted(entries)]
    header = comment_lines(
        'Every 2D attention module mmattn registers in the demo\'s CPU-sized RetinaNet, and '
        'ASFF after its FPN: one detector that shows each kind of map the attention figures '
        'draw (tools/analysis_tools/visualize_attention.py; docs/attention_maps.md times the '
        'tool on it). Data, schedule and hooks are the demo\'s. '
        + every_attention_config.__doc__.split('. ', 1)[1].replace('\n   ', '').replace(
            '  ', ' ') + ' ' + GENERATED_NOTE)
    return (f"{header}_base_ = './retinanet_r18-se_fpn_300i_toy-coco.py'\n\n"
            'STAGE_2 = (False, True, False, False)  # 64 channels, stride 8\n'
            'STAGE_3 = (False, False, True, False)  # 128 channels, stride 16\n'
            'STAGE_4 = (False, False, False, True)  # 256 channels, stride 32\n\n'
            'model = dict(\n    backbone=dict(plugins=[\n' + '\n'.join(lines) + '\n    ]),\n'
            '    neck=[\n'
            "        dict(type='FPN', in_channels=[32, 64, 128, 256], out_channels=64, "
            'start_level=1,\n'
            "             add_extra_convs='on_input', num_outs=5),\n"
            "        dict(type='ASFF', in_channels=64, out_channels=64, num_levels=5),\n"
            '    ])\n')


def zoo_configs() -> List[ZooConfig]:
    """Every generated config, sorted by path."""
    classes = list_attention_modules()
    configs = []
    for module_type, place in paper_placements().items():
        family = classes[module_type].family
        for model in ZOO_MODELS:
            configs.append(_module_config(model, module_type, place, family))
            if module_type in PRETRAINED_ZOO:
                configs.append(_pretrained_config(model, module_type,
                                                  PRETRAINED_ZOO[module_type], place, family))
    for name, text, base, where in (
            ('retinanet_r50_fpn-asff_1x_coco', _ASFF_RETINANET,
             'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 'ASFF after the FPN (P3-P7)'),
            ('yolov3_d53_asff_8xb8-ms-608-273e_coco', _ASFF_YOLO,
             'mmdet::yolo/yolov3_d53_8xb8-ms-608-273e_coco.py',
             "ASFF after YOLOV3Neck's three levels")):
        configs.append(ZooConfig(f'{ASFF.family}/{name}.py', text, 'ASFF', ASFF.family, base,
                                 where, "the base's", 'COCO'))
    return sorted(configs, key=lambda c: c.path)


__all__ = ['ZooModel', 'ZooConfig', 'ZOO_MODELS', 'GENERATED_NOTE', 'IDENTITY_NOTE',
           'describe_plugins', 'zoo_configs', 'EVERY_ATTENTION', 'every_attention_config']
