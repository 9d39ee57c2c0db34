"""The module contract, as a class: what every attention module of mmattn keeps and states.

Every 2D module of ``mmattn.models.attentions`` subclasses :class:`AttentionModule` (the
sequence forms :class:`AttentionBase`), is
registered once in mmengine's root ``MODELS`` and states its facts as class attributes.
The registry lists the modules by this class (:func:`mmattn.registry.list_attention_modules`),
and everything that needs a fact about a module reads it from the class: the zoo and its
README/metafile tables (``mmattn.zoo``), the default positions of ``--attention`` and the
sweep (``mmattn.config``), the benchmark's defaults, the converters (a module's defaults by
``inspect.signature``) and the attention-map figures (``_maps_``). Adding a module is one
file, its test file and one import line in ``mmattn/models/attentions/__init__.py``.
"""
import inspect
from typing import Any, ClassVar, Dict, NamedTuple, Optional, Tuple

from mmengine.model import BaseModule
from torch import Tensor

from mmattn.registry import ROOT_MODELS
from ..utils import MapSpec, check_feature_map, check_positive_int

Stages = Tuple[bool, ...]

#: Stages 2-4 of a four-stage ResNet: stage 1 is frozen in mmdet's configs
#: (``frozen_stages=1``), so a module there would keep its initialisation.
STAGES_2_TO_4: Stages = (False, True, True, True)
#: The last stage (stride 32 in detection, dilated at stride 8 in mmseg's D8 models).
STAGE_4: Stages = (False, False, False, True)


class Placement(NamedTuple):
    """A module's default place in a ResNet, from its class (:meth:`AttentionModule.placement`).

    Attributes:
        short_name (str): Lowercase short name in config file names
            (``faster-rcnn_r50-<short_name>_fpn_1x_coco.py``).
        position (str): Bottleneck plugin position: ``'after_conv1'``,
            ``'after_conv2'`` or ``'after_conv3'``.
        stages (tuple[bool]): Which of the four ResNet stages get the module.
        paper (str): The paper, for comments and tables.
        note (str): Why this position, where it is not the paper's obvious one.
    """

    short_name: str
    position: str
    stages: Stages
    paper: str
    note: str = ''


class AttentionBase(BaseModule):
    """What every attention module of mmattn states about itself, whatever its input layout.

    **The facts** (class attributes, one home each):

    - ``paper``, ``paper_url``: the paper and its link;
    - ``short_name``: the tag in config names (``retinanet_r50-<short_name>_fpn_1x_coco``);
    - ``family``: the folder of its configs (``configs/<family>/``), shared by the modules
      of one paper (DANet's three);
    - ``note``: what sets the implementation apart, in one line (for the module tables);
    - ``default_position``, ``default_stages``, ``position_note``: where the module goes in
      a ResNet when a spec names no position (None: not a ResNet plugin, e.g. the sequence
      forms);
    - ``_abbr_``: the attribute name of the module inside a ResNet block (mmcv's rule);
    - ``_maps_``: the attention maps it shows (:class:`~mmattn.models.utils.MapSpec`);
    - ``_layout_``: ``'BCHW'`` for the 2D modules the contract is about; the sequence forms
      say ``'BNC'`` or ``'BCNT'``;
    - the defaults: the constructor's, read by :meth:`defaults` (``inspect.signature``).

    ``name`` is the name used in messages: the class name (DualAttention's errors name
    DualAttention, not its PAM and CAM).

    Args:
        init_cfg (dict or list[dict], optional): mmengine initialization config.
    """

    paper: ClassVar[str] = ''
    paper_url: ClassVar[str] = ''
    short_name: ClassVar[str] = ''
    family: ClassVar[str] = ''
    note: ClassVar[str] = ''
    default_position: ClassVar[Optional[str]] = None
    default_stages: ClassVar[Stages] = STAGES_2_TO_4
    position_note: ClassVar[str] = ''
    name: ClassVar[str] = 'AttentionBase'
    _abbr_: ClassVar[str] = ''
    _maps_: ClassVar[Dict[str, MapSpec]] = {}
    _layout_: ClassVar[str] = ''

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if 'name' not in vars(cls):
            cls.name = cls.__name__

    @classmethod
    def defaults(cls) -> Dict[str, Any]:
        """The constructor's defaults (``init_cfg`` left out), read from its signature."""
        params = inspect.signature(cls.__init__).parameters
        return {k: p.default for k, p in params.items()
                if p.default is not inspect.Parameter.empty and k != 'init_cfg'}

    @classmethod
    def placement(cls) -> Optional[Placement]:
        """Where the module goes in a ResNet by default, or None (not a ResNet plugin)."""
        if cls.default_position is None:
            return None
        return Placement(cls.short_name, cls.default_position, tuple(cls.default_stages),
                         cls.paper, cls.position_note)


class AttentionModule(AttentionBase):
    """Base class of mmattn's 2D attention modules: the module contract.

    **The contract** (checked on every registered module by ``tests/test_contract.py``,
    which reads the module list from the registry):

    - Registered once in mmengine's root ``MODELS`` under its class name, so a bare
      ``type='SE'`` resolves in mmdet, mmseg and mmpretrain configs once mmattn is
      imported, and ``type='mmattn.SE'`` from any scope; no name collides with a name of
      mmcv, mmdet, mmseg or mmpretrain.
    - ``in_channels`` first (the keyword mmcv's ``build_plugin_layer`` passes); input
      ``(B, C, H, W)``, output of the same shape, dtype and device, for any ``H, W >= 1``
      and any batch size (``B = 0`` included: an empty output); what the paper's math
      cannot take raises ``ValueError``/``TypeError`` naming the module, the argument, the
      value and the rule, at construction or at the input check (:meth:`check_input`).
    - Each sample's output depends only on that sample; float32, float16 and bfloat16
      (softmaxes and pooled statistics in at least float32), float64 kept; ``channels_last``
      input; ``torch.jit.trace``, ONNX and ``torch.export`` (dynamic B, H, W) give eager's
      outputs at other sizes; ``torch.compile`` trains across sizes; one image per device
      trains at every size (a norm of single values falls back as
      :func:`mmattn.models.utils.norm_forward` says); ``with_cp=True`` trains (no output is
      a view of the input).
    - Defaults reproduce the paper's configuration; arguments use the paper's symbols
      (``reduction`` is the paper's r, a divisor); sub-layers come from ``*_cfg`` dicts
      built with mmcv's builders.

    Its facts are those of :class:`AttentionBase`.

    Args:
        in_channels (int): Number of input channels C.
        init_cfg (dict or list[dict], optional): mmengine initialization config.
    """

    name: ClassVar[str] = 'AttentionModule'
    _layout_: ClassVar[str] = 'BCHW'

    def __init__(self, in_channels: int, init_cfg: Optional[Any] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = check_positive_int(self.name, 'in_channels', in_channels)

    def check_input(self, x: Tensor) -> None:
        """The input check of the contract: a real floating ``(B, in_channels, H, W)`` tensor."""
        check_feature_map(self.name, x, self.in_channels)


def list_attention_modules(layout: str = 'BCHW') -> Dict[str, type]:
    """The registered attention modules of one input layout, by type name (sorted).

    A module is any class in mmengine's root ``MODELS`` that subclasses
    :class:`AttentionBase` (a module of mmattn or of another package built on it), with
    ``_layout_ == layout``: ``'BCHW'`` (the default: the 2D modules of the contract, which
    can be plugins) or a sequence layout (``'BNC'``, ``'BCNT'``). Every sweep over the
    modules (the contract tests, the benchmark, the zoo) reads this list, so a module added
    later is found without upkeep.
    """
    return {
        name: cls
        for name, cls in sorted(ROOT_MODELS.module_dict.items())
        if isinstance(cls, type) and issubclass(cls, AttentionBase) and cls._layout_ == layout
    }


__all__ = ['list_attention_modules', 'AttentionBase', 'AttentionModule', 'Placement', 'Stages',
           'STAGES_2_TO_4', 'STAGE_4']
