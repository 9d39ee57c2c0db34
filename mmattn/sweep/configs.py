"""Sweep configs: one derived config per module spec on top of any base.

Each derived config is the model ``--attention`` would train (the same derivation,
:func:`mmattn.config.derive_model`), written as the few keys it changes on top of
``_base_``; a baseline without the base's attention comes first.
"""
import os
import os.path as osp
import re
import tempfile
import textwrap
from typing import Iterable, List, NamedTuple, Optional, Sequence, Union

from mmattn.config import (LINE_LENGTH, RECORD_KEY, ModuleSpec, Placed, Stages, attention_record,
                           check_builds, derive_model, describe_placed, parse_module_spec,
                           placement_of, render_model, to_python)
from mmattn.files import config_file


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
    place = placement_of(placed.type)
    abbr = place.short_name if place else name.lower()
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
        place = placement_of(module_type)
        abbr = re.escape(place.short_name if place else name.lower())
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


def _render_derived(base_ref: str, comment: str, imports: str, override: dict,
                    record: Optional[dict] = None) -> str:
    wrapped = textwrap.wrap(comment, width=LINE_LENGTH - 2)
    head = ''.join(f'# {line}\n' for line in wrapped)
    body = f'\n{render_model(override)}' if override else ''
    # The spec, as --attention took it: tools/train.py's checkpoints carry it in their meta.
    tail = f'\n{RECORD_KEY} = {to_python(record)}\n' if record else ''
    return f'{head}_base_ = {base_ref!r}\n\n{imports}\n{body}{tail}'


def derive_configs(base_config: str, specs: Iterable[Union[str, ModuleSpec]], out_dir: str,
                   baseline: bool = True, check: bool = True,
                   identity_init: bool = False) -> List[SweepEntry]:
    """Write one config per module spec on top of ``base_config``.

    Each derived config is ``_base_`` (the base, by relative path, or verbatim
    when it is a package reference such as ``mmdet::retinanet/...``) plus
    ``custom_imports`` and what :func:`~mmattn.config.derive_model` changes
    in ``model``: the backbone (its plugin-capable form with ``plugins``, or an
    ``AttentionBackbone``) or the neck. The base's own attention is replaced.
    With ``baseline``, a first config is the base without attention.

    Args:
        check (bool): Build the backbone and neck of every derived config before
            writing any, so that only configs that build are written.
        identity_init (bool): The modules start as the identity (see
            :func:`~mmattn.config.derive_model`).

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
        record = attention_record([spec], identity_init) if spec is not None else None
        text = _render_derived(base_ref, f'{comment} Written by tools/sweep.py.',
                               imports_line, derivation.override, record)
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


__all__ = ['SweepEntry', 'derive_configs', 'derived_name']
