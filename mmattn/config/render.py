"""Config-file source from Python values, formatted as OpenMMLab's configs are.

The zoo (:mod:`mmattn.zoo`), the sweep's derived configs, ``--attention``'s log and the
converters' reports all write config text through these functions.
"""
import textwrap
from typing import Any, Sequence

#: The line length of mmattn's (and mmdet's) configs.
LINE_LENGTH = 100
#: What a config on top of an mmdet/mmseg base needs for mmattn's types to resolve.
CUSTOM_IMPORTS = "custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)"


def to_python(obj: Any) -> str:
    """Config-file source for ``obj``: ``dict(a=1)`` rather than ``{'a': 1}``."""
    if isinstance(obj, dict):
        return 'dict(' + ', '.join(f'{k}={to_python(v)}' for k, v in obj.items()) + ')'
    if isinstance(obj, tuple):
        inner = ', '.join(to_python(v) for v in obj)
        return f'({inner},)' if len(obj) == 1 else f'({inner})'
    if isinstance(obj, list):
        return '[' + ', '.join(to_python(v) for v in obj) + ']'
    return repr(obj)


def format_value(obj: Any, indent: int = 0, column: int = 0) -> str:
    """Config-file source for ``obj`` starting at ``column`` on a line indented ``indent``.

    One line if it fits (with room for a closing bracket and comma), else one
    item per line, each four spaces deeper, as yapf formats mmdet's configs.
    """
    flat = to_python(obj)
    if column + len(flat) <= LINE_LENGTH - 3 or not isinstance(obj, (dict, list)) or not obj:
        return flat
    inner = indent + 4
    pad = ' ' * inner
    if isinstance(obj, dict):
        items = [f'{pad}{k}={format_value(v, inner, inner + len(k) + 1)}' for k, v in obj.items()]
        return 'dict(\n' + ',\n'.join(items) + ')'
    items = [f'{pad}{format_value(v, inner, inner)},' for v in obj]
    return '[\n' + '\n'.join(items) + '\n' + ' ' * indent + ']'


def render_model(model: dict) -> str:
    """The ``model = dict(...)`` block of a config, formatted to the line length."""
    return f'model = {format_value(model, 0, len("model = "))}\n'


def comment_lines(text: str, verbatim: Sequence[str] = (), width: int = LINE_LENGTH - 20) -> str:
    """``# `` lines: ``text`` wrapped at ``width``, then ``verbatim`` lines as they are."""
    wrapped = textwrap.wrap(text, width=width)
    return ''.join(f'# {line}\n' for line in list(wrapped) + list(verbatim))


__all__ = ['LINE_LENGTH', 'CUSTOM_IMPORTS', 'to_python', 'format_value', 'render_model',
           'comment_lines']
