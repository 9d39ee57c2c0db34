"""Parameter counts of ResNet-50 ImageNet classifiers with a module inserted.

Papers report their modules' cost as the parameters of a ResNet-50 classifier
(backbone + the 2048 -> 1000 fully connected layer) with the module in every
bottleneck at the paper's position. This reproduces that arithmetic for every
module with a default place (:func:`mmattn.config.paper_placements`): the channel and
spatial gates in all four stages (the papers' classifiers; the detection configs
skip the frozen stage 1), the self-attention modules in the last stage only.
"""
from typing import Dict, List, Optional, Sequence

from mmattn.config import paper_placements
from mmattn.models import list_attention_modules

# torchvision's resnet50 and mmdet's ResNet-50 + fc: 25,557,032 (25.56 M).
IMAGENET_CLASSES = 1000
ALL_STAGES = (True, True, True, True)


def resnet50_classifier_params(plugins: Optional[List[dict]] = None) -> int:
    """Parameters of mmdet's ResNet-50 with ``plugins`` plus the 2048 -> 1000 fc."""
    from mmdet.models.backbones import ResNet
    backbone = ResNet(depth=50, plugins=plugins)
    fc = 2048 * IMAGENET_CLASSES + IMAGENET_CLASSES
    return sum(p.numel() for p in backbone.parameters()) + fc


def classifier_stages(stages: Sequence[bool]) -> tuple:
    """The stages of the paper's classifier: all four where the configs skip only stage 1."""
    stages = tuple(stages)
    return ALL_STAGES if stages == (False, True, True, True) else stages


def catalog_params(names: Optional[Sequence[str]] = None,
                   channels: int = 256) -> List[Dict[str, object]]:
    """One row per module: its parameters at ``channels`` and the ResNet-50 totals."""
    modules = list_attention_modules()
    placements = paper_placements()
    plain = resnet50_classifier_params()
    rows = [dict(module='ResNet-50 (no module)', position='-', stages='-', module_params=0,
                 resnet50_params=plain, added=0)]
    for name in names or sorted(placements):
        place = placements[name]
        stages = classifier_stages(place.stages)
        total = resnet50_classifier_params(
            [dict(cfg=dict(type=name), stages=stages, position=place.position)])
        rows.append(
            dict(module=name, position=place.position,
                 stages=''.join(str(int(s)) for s in stages),
                 module_params=sum(p.numel() for p in modules[name](channels).parameters()),
                 resnet50_params=total, added=total - plain))
    return rows


def catalog_params_markdown(rows: List[Dict[str, object]], channels: int = 256) -> str:
    lines = [
        f'| module | position | stages | params at C={channels} | ResNet-50 classifier | added |',
        '|---|---|---|---|---|---|',
    ]
    for r in rows:
        lines.append(f"| {r['module']} | {r['position']} | {r['stages']} | "
                     f"{r['module_params']:,} | {r['resnet50_params']:,} "
                     f"({r['resnet50_params'] / 1e6:.2f} M) | {r['added']:,} |")
    return '\n'.join(lines)
