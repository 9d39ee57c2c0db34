"""The table of source layouts: checkpoint families and their published architectures.

A :class:`SourceFamily` is one code base whose ResNets the converters read
(timm's ``resnet.py``, mmpretrain's ``SEResNet``, the official CBAM, ECA-Net,
Triplet Attention and SCSA repositories): how its checkpoint keys are laid
out and how each of its attention modules becomes mmattn's. A
:class:`SourceArch` is one architecture of a family by the name the family
gives it (``seresnet50``, ``ecaresnet50d``, ``cbam_resnet50``), with its
published weights and their ImageNet top-1 where there are any. The families
register themselves here when :mod:`mmattn.converters` is imported.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from torch import Tensor

STEM_WORDS = {
    'plain': 'the plain stem (one 7x7 conv: conv1, bn1)',
    'deep': 'the deep stem (three 3x3 convs: stem.0-7)',
}
DEPTHS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


@dataclass
class ModuleWeights:
    """One attention module of a source block, already in mmattn's parameter names.

    Attributes:
        kind (str): The mmattn type it becomes (``'SE'``, ``'ECA'``, ...).
        position (str): The mmdet plugin position it sits at.
        tensors (dict): mmattn parameter name (relative to the module) -> tensor.
        source_keys (dict): mmattn name -> the source key it came from.
        settings (dict): What the source computes beyond the shapes
            (activations, gates, SCSA's heads), compared with the target's.
        notes (tuple[str]): How the weights were changed on the way
            (a permutation, a reshape), for the report.
    """

    kind: str
    position: str
    tensors: Dict[str, Tensor]
    source_keys: Dict[str, str]
    settings: Dict[str, Any] = field(default_factory=dict)
    notes: Tuple[str, ...] = ()


@dataclass
class SourceBlock:
    """A Bottleneck of the source: its trunk layers by role and its modules."""

    name: str  # 'layer1.0'
    trunk: Dict[str, str]  # role ('conv1', 'bn1', ..., 'ds_conv', 'ds_bn') -> source key prefix
    modules: List[ModuleWeights]


@dataclass
class SourceNet:
    """A source checkpoint read into roles: stem, blocks, modules, what is dropped."""

    family: 'SourceFamily'
    name: str  # for messages: 'the timm seresnet50 checkpoint'
    state: Dict[str, Tensor]
    stem: str  # 'plain' | 'deep'
    stem_pairs: List[Tuple[str, str]]  # (conv, bn) source key prefixes, in order
    avg_down: bool
    blocks: List[List[SourceBlock]]  # per stage
    dropped: List[str]
    arch: Optional['SourceArch'] = None
    notes: List[str] = field(default_factory=list)

    @property
    def blocks_per_stage(self) -> Tuple[int, ...]:
        return tuple(len(s) for s in self.blocks)

    @property
    def depth(self) -> Optional[int]:
        return DEPTHS.get(self.blocks_per_stage)

    def conv2_shape(self) -> Tuple[int, ...]:
        return tuple(self.state[self.blocks[0][0].trunk['conv2'] + '.weight'].shape)

    @property
    def groups(self) -> int:
        width, per_group = self.conv2_shape()[:2]
        return width // per_group

    @property
    def width(self) -> int:
        """Output channels of the first block's 3x3 conv."""
        return self.conv2_shape()[0]


ModuleParser = Callable[[str, Dict[str, Tensor], 'ParseContext'], ModuleWeights]


@dataclass
class ParseContext:
    """What a module parser may need besides its tensors."""

    source: str  # for messages
    block: str  # 'layer1.0'
    meta: Dict[str, Any]


@dataclass(frozen=True)
class SourceArch:
    """A published architecture of a family, by the family's own name for it.

    Attributes:
        name (str): The family's name (``'seresnet50'``).
        layers (tuple[int]): Bottlenecks per stage.
        stem (str): ``'plain'`` or ``'deep'``.
        avg_down (bool): Average-pool shortcut (ResNet-D).
        groups (int): Groups of the 3x3 convs (32 for ResNeXt 32x4d).
        base_width (int): Channels per group of stage 1's 3x3 conv (4 for
            32x4d, 64 for a ResNet).
        module (str, optional): The mmattn type of its attention module.
        position (str): Where the module sits.
        stage_args (tuple[dict]): Per stage, what the module's weights fix
            (:func:`mmattn.converters.modules.module_args`), by the source's
            own rules (rounding, kernel sizes).
        settings (dict): What the module computes beyond its shapes.
        weights (str, optional): Download URL of the published ImageNet
            weights (None: none published).
        top1 (float, optional): ImageNet-1k top-1 the source reports for them.
        top1_url (str): Where it reports it.
        note (str): Anything a user must know (recipe, resolution).
    """

    name: str
    layers: Tuple[int, ...]
    stem: str = 'plain'
    avg_down: bool = False
    groups: int = 1
    base_width: int = 64
    module: Optional[str] = None
    position: str = 'after_conv3'
    stage_args: Tuple[Dict[str, Any], ...] = ()
    settings: Dict[str, Any] = field(default_factory=dict)
    weights: Optional[str] = None
    top1: Optional[float] = None
    top1_url: str = ''
    note: str = ''

    @property
    def depth(self) -> int:
        return DEPTHS[tuple(self.layers)]


@dataclass(frozen=True)
class SourceFamily:
    """A code base whose ResNet checkpoints the converters read.

    Attributes:
        name (str): Short name (``'timm'``), also the converter script's
            (``tools/model_converters/timm2mmattn.py``).
        title (str): For messages and tables.
        code (str): Where its ResNet and modules are published.
        prefix (str): Prefix of the backbone's keys (``'backbone.'`` for
            mmpretrain classifiers).
        head_prefixes (tuple[str]): The classifier's keys, dropped.
        modules (dict): Block attribute (``'se'``) -> parser of its tensors.
        deep_stem (str, optional): How the family names a deep stem:
            ``'timm'`` (``conv1.0-6`` + ``bn1``) or None (no deep stems).
        archs (dict): Name -> :class:`SourceArch`.
    """

    name: str
    title: str
    code: str
    modules: Dict[str, ModuleParser]
    archs: Dict[str, SourceArch]
    prefix: str = ''
    head_prefixes: Tuple[str, ...] = ('fc.',)
    deep_stem: Optional[str] = None

    @property
    def script(self) -> str:
        return f'tools/model_converters/{self.name}2mmattn.py'


FAMILIES: Dict[str, SourceFamily] = {}


def register_family(family: SourceFamily) -> SourceFamily:
    if family.name in FAMILIES:
        raise ValueError(f'converter: a source family named {family.name!r} is registered '
                         'already')
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> SourceFamily:
    if name not in FAMILIES:
        raise ValueError(f'converter: unknown source family {name!r}; known: '
                         f'{", ".join(sorted(FAMILIES))}')
    return FAMILIES[name]


def get_arch(family: str, name: str) -> SourceArch:
    fam = get_family(family)
    if name not in fam.archs:
        raise ValueError(f'converter: {fam.title} has no architecture {name!r}; known: '
                         f'{", ".join(sorted(fam.archs))}')
    return fam.archs[name]
