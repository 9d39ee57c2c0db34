"""The package's floors: every import runs down, and no import circle, lazy or not.

A file's floor is that of its top-level subpackage of ``mmattn``:

====  ======================================================  ==============================
0     ``version``, ``files``                                   the version and torch range;
                                                               the tools' missing-file rule
1     ``compat``, ``registry``                                 what everything stands on
2     ``models``                                               modules, backbones, necks
3     ``config``                                               positions, the spec grammar,
                                                               ``--attention``, rendering
4     ``converters``, ``analysis``, ``visualization``,          each reads the layers below
      ``datasets``
5     ``engine``, ``zoo``                                      the tools' logic, the zoo
6     ``sweep``                                                many configs, one table
====  ======================================================  ==============================

An import of another subpackage must go to a lower floor (imports inside a subpackage are
free), whether at the top of the file or inside a function. ``mmattn/__init__.py`` is the
package's front door, above every floor, and no file of the package imports it. The one
import that runs up is mmengine's, not an import statement: the ``mmattn`` scope's registry
imports ``mmattn.models`` on its first lookup (see ``mmattn/registry.py``).
"""
import ast
import pathlib
from collections import defaultdict

import mmattn

PACKAGE = pathlib.Path(mmattn.__file__).parent
FLOORS = {'version': 0, 'files': 0, 'compat': 1, 'registry': 1, 'models': 2, 'config': 3,
          'converters': 4, 'analysis': 4, 'visualization': 4, 'datasets': 4,
          'engine': 5, 'zoo': 5, 'sweep': 6}


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join(parts)


def _imports(path: pathlib.Path):
    """``(line, imported module)`` for every import statement of the file, lazy ones too."""
    name = _module_name(path)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            yield node.lineno, target
            for alias in node.names:  # ``from mmattn import models`` imports a module
                yield node.lineno, f'{target}.{alias.name}'


def _files():
    return sorted(p for p in PACKAGE.rglob('*.py') if '__pycache__' not in p.parts)


def _subpackage(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def test_every_subpackage_has_a_floor():
    found = {p.relative_to(PACKAGE).parts[0].removesuffix('.py') for p in _files()}
    assert found - {'__init__'} == set(FLOORS)


def test_imports_run_down_the_floors():
    known = {_module_name(p) for p in _files()}
    wrong = []
    for path in _files():
        here = _module_name(path)
        if here == 'mmattn':
            continue
        for line, target in _imports(path):
            if not target.startswith('mmattn'):
                continue
            if target == 'mmattn':
                wrong.append(f'{here}:{line} imports the package front door mmattn')
                continue
            if target not in known:  # a name, not a module (from x import name)
                continue
            src, dst = _subpackage(here), _subpackage(target)
            if src != dst and FLOORS[dst] >= FLOORS[src]:
                wrong.append(f'{here}:{line} (floor {FLOORS[src]}) imports {target} '
                             f'(floor {FLOORS[dst]})')
    assert not wrong, '\n'.join(wrong)


def test_no_import_circle():
    known = {_module_name(p) for p in _files()}
    graph = defaultdict(set)
    for path in _files():
        here = _module_name(path)
        for _, target in _imports(path):
            while target and target not in known:
                target = target.rpartition('.')[0]  # from x import name: the module x
            if target and target != here and target != 'mmattn':
                graph[here].add(target)
    # A package imports its own submodules to re-export them: the edge from a package to
    # its children is the package's, not a circle through it.
    for node in list(graph):
        graph[node] = {t for t in graph[node] if not t.startswith(node + '.')}
    circles, state = [], {}

    def visit(node, stack):
        state[node] = 'open'
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                circles.append(' -> '.join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, '\n'.join(circles)
