"""The target side: an mmdet/mmseg ResNet backbone, built from a config, read into roles."""
import copy
import importlib
from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from mmengine.registry import DefaultScope
from torch.nn.modules.batchnorm import _BatchNorm

from mmattn.config import BLOCK_POSITIONS
from .common import fail


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
        fail(f'{owner}: {path} is not a sequence of conv + norm pairs')
    return [(f'{path}.{c}', f'{path}.{n}') for c, n in zip(convs, norms)]


def describe_target(backbone: nn.Module, name: str) -> TargetNet:
    """Read a built mmdet/mmseg ResNet-family backbone into roles."""
    if not isinstance(backbone, _resnet_classes()):
        fail(f'{name} is a {type(backbone).__name__}; the converters write ResNet-family '
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
                fail(f'{name} is a ResNet-{backbone.depth} of BasicBlocks; the converters '
                     'read Bottleneck ResNets (depth 50, 101, 152)')
            if getattr(block, 'with_dcn', False):
                fail(f'{name} has deformable convs in {path} (dcn / stage_with_dcn), whose '
                     'offsets no ImageNet checkpoint holds; remove dcn to convert')
            trunk = {}
            for i in (1, 2, 3):
                trunk[f'conv{i}'] = f'{path}.conv{i}'
                trunk[f'bn{i}'] = f'{path}.{getattr(block, f"norm{i}_name")}'
            if block.downsample is not None:
                pairs = _pairs(block.downsample, f'{path}.downsample', name)
                trunk['ds_conv'], trunk['ds_bn'] = pairs[0]
            modules = []
            for position in BLOCK_POSITIONS:
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
    import mmattn.models  # noqa: F401  (registers PluginResNet* and the modules)
    cfg = copy.deepcopy(dict(cfg))
    cfg.pop('init_cfg', None)
    cfg.pop('pretrained', None)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    importlib.import_module(f'{scope}.models')
    with DefaultScope.overwrite_default_scope(scope), torch.device(device):
        return registry.build(cfg)
