"""Each config folder's ``README.md`` and ``metafile.yml``, and the module table of the docs.

Written from the modules' facts (their classes) and the generated configs, as mmdet lays
out a method's folder (``configs/gcnet/README.md``, ``metafile.yml`` in mmdet's model-index
schema). No config of the zoo has been trained to completion by mmattn (that needs GPUs and
COCO/ADE20K), so the metafiles carry no ``Results`` and no weights; the READMEs say so.
"""
import inspect
from collections import defaultdict
from typing import Dict, List, Sequence

import yaml

from mmattn.config import describe_stages, to_python
from mmattn.models import ASFF, list_attention_modules
from mmattn.version import __version__
from .configs import GENERATED_NOTE, ZooConfig, zoo_configs

_TASKS = {'COCO': 'Object Detection', 'ADE20K': 'Semantic Segmentation'}


def _summary(cls: type) -> str:
    """The first sentence (line) of a class's docstring."""
    doc = inspect.getdoc(cls) or ''
    return doc.split('\n\n')[0].replace('\n', ' ').strip()


def _defaults(cls: type) -> str:
    """``dict(type='SE', reduction=16, ...)``: the constructor's defaults (its paper's)."""
    args = ', '.join(f'{k}={to_python(v)}' for k, v in cls.defaults().items()) \
        if hasattr(cls, 'defaults') else ''
    return f"dict(type='{cls.__name__}'{', ' if args else ''}{args})"


def _code_path(cls: type) -> str:
    return cls.__module__.replace('.', '/') + '.py'


def _family_classes() -> Dict[str, List[type]]:
    families: Dict[str, List[type]] = defaultdict(list)
    for cls in list_attention_modules().values():
        if cls.placement() is not None:
            families[cls.family].append(cls)
    families[ASFF.family].append(ASFF)
    return families


def family_readme(family: str, classes: Sequence[type], configs: Sequence[ZooConfig]) -> str:
    """``configs/<family>/README.md``."""
    title = ', '.join(c.__name__ for c in classes)
    lines = [f'# {title}', '']
    seen = set()
    for cls in classes:
        if cls.paper_url not in seen:
            lines += [f'> [{cls.paper}]({cls.paper_url})', '']
            seen.add(cls.paper_url)
    lines += ['<!-- [ALGORITHM] -->', '']
    for cls in classes:
        lines += [f'## {cls.__name__}', '', _summary(cls), '']
        place = cls.placement() if hasattr(cls, 'placement') else None
        if place is not None:
            where = (f'{place.position} of every bottleneck in {describe_stages(place.stages)}'
                     + (f' ({place.note})' if place.note else ''))
            lines += [f'- Default position in a ResNet: {where}.']
        lines += [f'- Defaults (the paper\'s configuration): `{_defaults(cls)}`.',
                  f'- Code: [`{_code_path(cls)}`](../../{_code_path(cls)}).', '']
    lines += ['## Configs', '',
              '| config | base | where | backbone weights |', '|---|---|---|---|']
    for c in configs:
        name = c.path.split('/', 1)[1]
        lines.append(f'| [{name}]({name}) | `{c.base}` | {c.where} | {c.pretrained} |')
    lines += ['', 'These configs build and train (each is trained one iteration by the test '
              'suite); none has been trained to completion by mmattn, so there are no results '
              'or weights here. The `-in1k` configs name the download and the converter '
              'command in their headers.', '', f'_{GENERATED_NOTE}_', '']
    return '\n'.join(lines)


def family_metafile(family: str, classes: Sequence[type], configs: Sequence[ZooConfig]) -> str:
    """``configs/<family>/metafile.yml`` in mmdet's model-index schema (no results)."""
    collections = []
    for cls in classes:
        collections.append({
            'Name': cls.__name__,
            'Metadata': {'Architecture': [cls.__name__, 'ResNet'] if cls is not ASFF
                         else ['ASFF', 'FPN']},
            'Paper': {'URL': cls.paper_url, 'Title': cls.paper},
            'README': f'configs/{family}/README.md',
            'Code': {'URL': _code_path(cls), 'Version': f'v{__version__}'},
        })
    models = []
    for c in configs:
        models.append({
            'Name': c.path.split('/', 1)[1][:-len('.py')],
            'In Collection': c.module,
            'Config': f'configs/{c.path}',
            'Metadata': {'Training Data': c.dataset, 'Task': _TASKS[c.dataset],
                         'Base': c.base},
        })
    header = f'# {GENERATED_NOTE}\n'
    return header + yaml.safe_dump({'Collections': collections, 'Models': models},
                                   sort_keys=False, width=100, allow_unicode=True)


def family_files(configs: Sequence[ZooConfig]) -> Dict[str, str]:
    """``README.md`` and ``metafile.yml`` of every family folder of ``configs``."""
    by_family: Dict[str, List[ZooConfig]] = defaultdict(list)
    for c in configs:
        by_family[c.family].append(c)
    files = {}
    for family, classes in sorted(_family_classes().items()):
        ours = sorted(by_family[family], key=lambda c: c.path)
        files[f'{family}/README.md'] = family_readme(family, classes, ours)
        files[f'{family}/metafile.yml'] = family_metafile(family, classes, ours)
    return files


def _all_modules() -> List[type]:
    """Every registered attention module (2D first, then the sequence forms), then ASFF."""
    classes = [cls for layout in ('BCHW', 'BNC', 'BCNT')
               for cls in list_attention_modules(layout).values()]
    return classes + [ASFF]


def _paper_link(cls: type) -> str:
    return f'[{cls.paper}]({cls.paper_url})'


def module_table() -> str:
    """The docs' table of every module: paper, defaults, default place, notes, configs."""
    lines = ['| type name | paper | defaults (the paper\'s configuration) | default place | '
             'notes | configs |', '|---|---|---|---|---|---|']
    for cls in _all_modules():
        place = cls.placement() if hasattr(cls, 'placement') else None
        where = f'{place.position}, {describe_stages(place.stages)}' if place else '-'
        has_configs = place is not None or cls is ASFF
        configs = (f'[configs/{cls.family}/](../configs/{cls.family}/README.md)'
                   if has_configs else '-')
        kind = ' (neck)' if cls is ASFF else ''
        lines.append(f'| `{cls.__name__}`{kind} | {_paper_link(cls)} | `{_defaults(cls)}` | '
                     f'{where} | {cls.note} | {configs} |')
    return '\n'.join(lines) + '\n'


def readme_module_table() -> str:
    """The README's short table: type name (linking to the docs' table), paper, note."""
    lines = ['| type name | paper | note |', '|---|---|---|']
    for cls in _all_modules():
        kind = ' (neck)' if cls is ASFF else ''
        lines.append(f'| [`{cls.__name__}`](docs/module_contract.md#per-module-defaults){kind} | '
                     f'{_paper_link(cls)} | {cls.note} |')
    return '\n'.join(lines) + '\n'


def positions_table() -> str:
    """Where ``--attention``, the sweep and the zoo put each module by default (its class)."""
    lines = ['| module | position | stages | why there |', '|---|---|---|---|']
    for name, cls in list_attention_modules().items():
        place = cls.placement()
        digits = ''.join('01'[s] for s in place.stages)
        lines.append(f'| `{name}` | `{place.position}` | {describe_stages(place.stages)} '
                     f'(`{digits}`) | {place.note or "the position of its paper"} |')
    return '\n'.join(lines) + '\n'


def zoo_index() -> str:
    """The docs' list of the config folders: family, modules, number of configs."""
    by_family: Dict[str, List[str]] = defaultdict(list)
    for cls in _all_modules():
        if cls is ASFF or cls.placement() is not None:
            by_family[cls.family].append(cls.__name__)
    counts: Dict[str, int] = defaultdict(int)
    for c in zoo_configs():
        counts[c.family] += 1
    lines = ['| folder | modules | configs |', '|---|---|---|']
    for family in sorted(by_family):
        lines.append(f'| [configs/{family}/](../configs/{family}/README.md) | '
                     f'{", ".join(f"`{n}`" for n in by_family[family])} | {counts[family]} |')
    return '\n'.join(lines) + '\n'


#: The generated blocks of the docs: file (relative to the repository) -> block -> text.
#: In the file a block sits between ``<!-- BEGIN generated: NAME -->`` and ``<!-- END
#: generated: NAME -->`` lines; ``tools/misc/gen_configs.py`` writes it.
def docs_blocks() -> Dict[str, Dict[str, str]]:
    return {'README.md': {'module-table': readme_module_table()},
            'docs/module_contract.md': {'module-table': module_table()},
            'docs/configs.md': {'zoo-index': zoo_index(), 'positions-table': positions_table()}}


def fill_blocks(text: str, blocks: Dict[str, str], path: str = 'the file') -> str:
    """``text`` with each generated block replaced by its text (a missing marker raises)."""
    for name, body in blocks.items():
        begin = f'<!-- BEGIN generated: {name} (tools/misc/gen_configs.py) -->\n'
        end = f'<!-- END generated: {name} -->'
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            raise ValueError(f'{path} has no generated block {name!r}: add the lines '
                             f'{begin.strip()!r} and {end!r} where it goes')
        text = text[:i + len(begin)] + body + text[j:]
    return text


__all__ = ['family_readme', 'family_metafile', 'family_files', 'module_table',
           'readme_module_table', 'docs_blocks', 'fill_blocks']
