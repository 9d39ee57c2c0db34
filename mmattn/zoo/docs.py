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
from .configs import GENERATED_NOTE, ZooConfig

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


def module_table() -> str:
    """The docs' table of every registered 2D module: paper, defaults, place, configs."""
    lines = ['| type name | paper | defaults (the paper\'s configuration) | default place | '
             'configs |', '|---|---|---|---|---|']
    for name, cls in list_attention_modules().items():
        place = cls.placement()
        where = (f'{place.position}, {describe_stages(place.stages)}' if place else '-')
        configs = f'[configs/{cls.family}/](../configs/{cls.family}/README.md)' if place else '-'
        lines.append(f'| `{name}` | [{cls.paper}]({cls.paper_url}) | `{_defaults(cls)}` | '
                     f'{where} | {configs} |')
    return '\n'.join(lines) + '\n'


__all__ = ['family_readme', 'family_metafile', 'family_files', 'module_table']
