"""Convert a source checkpoint into a file that loads strictly into an mmattn-ready backbone.

:func:`convert_checkpoint` is what ``tools/model_converters/<family>2mmattn.py``
runs; :func:`convert_state_dict` is the same on tensors in memory.
"""
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from torch import Tensor

from mmattn.config import to_python
from mmattn.files import config_file
from mmattn.version import __version__
from .io import check_output_path, load_checkpoint_file, save_converted
from .layouts import get_arch, get_family
from .resnet import (arch_backbone, build_backbone, check_arch, describe_target,
                     describe_target_modules, map_weights, matching_arch, parse_source,
                     suggest_backbone)


@dataclass
class ConversionReport:
    """What a conversion did: for the converter script to print and for tests to read.

    Attributes:
        source (str): The checkpoint, as named in messages.
        arch (str, optional): The family's architecture it is.
        target (str): The backbone it was mapped into and checked against.
        scope (str): ``'mmdet'`` or ``'mmseg'``.
        backbone (dict): That backbone's config (``type``, ``depth``, ...,
            ``plugins``).
        modules (str): The attention modules, in words.
        counts (dict): Tensors written per group (``stem``, ``blocks``, and
            per module type).
        dropped (list[str]): Source keys left out (the classifier).
        filled (list[str]): Target keys the source lacks and that were set
            (BatchNorm ``num_batches_tracked`` of old checkpoints: 0).
        notes (list[str]): How weights were changed on the way, and what
            could not be verified.
    """

    source: str
    arch: Optional[str]
    target: str
    scope: str
    backbone: Dict[str, Any]
    modules: str
    counts: Dict[str, int] = field(default_factory=dict)
    dropped: List[str] = field(default_factory=list)
    filled: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def num_tensors(self) -> int:
        return sum(self.counts.values()) + len(self.filled)

    def lines(self) -> List[str]:
        """The report as printed by the converter scripts."""
        out = [f'source: {self.source}' + (f' ({self.arch})' if self.arch else ''),
               f'target: {self.target} ({self.scope}), {self.modules}',
               f'backbone: {to_python(self.backbone)}']
        groups = ', '.join(f'{k} {v}' for k, v in self.counts.items())
        out.append(f'mapped: {sum(self.counts.values())} tensors ({groups})')
        if self.filled:
            out.append(f'filled: {len(self.filled)} BatchNorm num_batches_tracked the source '
                       'lacks, set to 0')
        dropped = ', '.join(self.dropped) if self.dropped else 'nothing'
        out.append(f'dropped: {dropped} (the classifier)' if self.dropped
                   else f'dropped: {dropped}')
        out.extend(f'note: {n}' for n in self.notes)
        return out


def _target_from_config(config: str) -> Tuple[str, dict]:
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    backbone = cfg.get('model', {}).get('backbone')
    if not isinstance(backbone, dict):
        raise ValueError(f'converter: config {config!r} has no model.backbone')
    return cfg.get('default_scope', 'mmdet'), backbone.to_dict() if hasattr(
        backbone, 'to_dict') else dict(backbone)


def convert_state_dict(state: Dict[str, Tensor],
                       family: str,
                       arch: Optional[str] = None,
                       meta: Optional[Dict[str, Any]] = None,
                       backbone: Optional[dict] = None,
                       scope: Optional[str] = None,
                       task: str = 'det',
                       source_name: Optional[str] = None,
                       target_name: Optional[str] = None
                       ) -> Tuple['OrderedDict[str, Tensor]', ConversionReport]:
    """Map a source state dict onto a backbone's parameter names, checking it all.

    Args:
        state (dict): The source's tensors (``module.`` already stripped).
        family (str): The source family (``'timm'``, ``'mmpretrain'``,
            ``'cbam'``, ``'eca'``, ``'triplet'``, ``'scsa'``).
        arch (str, optional): The family's architecture the checkpoint must
            be (``'seresnet50'``); None accepts any it reads.
        meta (dict, optional): The checkpoint's ``meta`` (SCSA reads its
            training config there).
        backbone (dict, optional): The target backbone config; None builds
            the one the checkpoint implies (:func:`suggest_backbone`).
        scope (str, optional): Registry of ``backbone``: ``'mmdet'`` or
            ``'mmseg'``; default from ``task``.
        task (str): ``'det'`` or ``'seg'``, for the implied backbone.
        source_name (str, optional): How messages name the source.
        target_name (str, optional): How messages name the target.

    Returns:
        tuple: ``(state_dict, report)``; ``state_dict`` loads strictly into
        the backbone.

    Raises:
        ValueError: an unknown layout, a source that does not match the named
            architecture or the target, or a module the target lacks or has
            where the source has none; one sentence naming both sides.
    """
    fam = get_family(family)
    spec = get_arch(family, arch) if arch is not None else None
    source_name = source_name or f'the {fam.name} checkpoint'
    net = parse_source(state, meta or {}, fam, source_name)
    if spec is not None:
        check_arch(net, spec)
    else:
        spec = matching_arch(net)
    net.arch = spec
    if spec is not None:
        net.name = f'{source_name} ({fam.name} {spec.name})'
    if backbone is None:
        scope, backbone = suggest_backbone(net, task)
        target_name = target_name or f'the target {backbone["type"]}'
    else:
        scope = scope or ('mmdet' if task == 'det' else 'mmseg')
        target_name = target_name or f'the target {backbone.get("type")}'
    built = build_backbone(backbone, scope, device='meta')
    tgt = describe_target(built, target_name)
    result = map_weights(net, tgt)
    notes = list(result.notes)
    for stage in net.blocks:
        for block in stage:
            for m in block.modules:
                for note in m.notes:
                    if note not in notes:
                        notes.append(note)
    notes.extend(n for n in net.notes if n not in notes)
    report = ConversionReport(
        source=source_name, arch=spec.name if spec else None, target=target_name,
        scope=scope, backbone=backbone, modules=describe_target_modules(tgt),
        counts=result.counts, dropped=net.dropped, filled=result.filled, notes=notes)
    return result.state_dict, report


def convert_checkpoint(src: str,
                       dst: str,
                       family: str,
                       arch: Optional[str] = None,
                       config: Optional[str] = None,
                       task: str = 'det',
                       force: bool = False) -> ConversionReport:
    """Convert the checkpoint file ``src`` into ``dst`` for a backbone, or refuse.

    Nothing is written unless every check passes; ``dst`` is never replaced
    unless ``force``.

    Args:
        src (str): ``.pth``, ``.pth.tar`` or ``.safetensors`` file.
        dst (str): The ``.pth`` to write: ``{'state_dict': ..., 'meta': ...}``
            with the backbone's keys, for ``init_cfg=dict(type='Pretrained',
            checkpoint=dst)`` (or mmseg's ``pretrained=dst``).
        family (str): The source family.
        arch (str, optional): The architecture ``src`` must be.
        config (str, optional): A config whose ``model.backbone`` the file
            must load into; None: the backbone the checkpoint implies for
            ``task``.
        task (str): ``'det'`` or ``'seg'`` when no config is given.
        force (bool): Replace an existing ``dst``.
    """
    check_output_path(dst, force)
    if config is not None:
        config = config_file('converter', config, '--config')  # before reading the source
    state, meta = load_checkpoint_file(src)
    backbone, scope, target_name = None, None, None
    if config is not None:
        scope, backbone = _target_from_config(config)
        target_name = f"the backbone of {osp.basename(config)} ({backbone.get('type')})"
    out, report = convert_state_dict(
        state, family, arch=arch, meta=meta, backbone=backbone, scope=scope, task=task,
        source_name=f'{osp.basename(src)}', target_name=target_name)
    save_converted(out, dict(converter=f'mmattn {__version__}', source=osp.basename(src),
                             family=family, arch=report.arch, scope=report.scope,
                             backbone=_plain(report.backbone)), dst, force)
    return report


def _plain(obj: Any) -> Any:
    """Built-in containers only, so the file loads under ``torch.load(weights_only=True)``."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj) if isinstance(obj, tuple) else [
            _plain(v) for v in obj]
    return obj


def published_backbone(family: str, arch: str, task: str = 'det') -> Tuple[str, dict]:
    """The backbone config a published architecture converts into (for configs and docs)."""
    return arch_backbone(get_arch(family, arch), task)
