"""The one grammar of "a module with arguments", and the one builder of such a spec.

``--attention`` (``tools/train.py``, ``tools/test.py``, ``visualize_attention.py``), the
sweep (``tools/sweep.py``) and the benchmark (``tools/benchmark.py``) all read modules in
this grammar, with this parser; the arguments are checked against the module's
constructor when the spec is parsed, so ``SE(reduction_ratio=8)`` fails at once, naming
the valid arguments, instead of in mmcv's builder hundreds of log lines later.

A module spec is ``TYPE[(ARGS)][:POSITION[:STAGES]]``:

- ``TYPE``: a registered module (``SE``, ``mmattn.CBAM``, mmcv's ``ContextBlock``,
  ...) or an mmattn neck (``ASFF``).
- ``ARGS``: the module's keyword arguments, Python literals only (``dict(...)``
  allowed inside), e.g. ``SE(reduction=8)`` or ``CBAM(norm_cfg=dict(type='GN',
  num_groups=8))``. Read with :mod:`ast`, never evaluated.
- ``POSITION``:

  - ``after_conv1``, ``after_conv2``, ``after_conv3``: inside every chosen block
    of a ResNet-family backbone (BasicBlock: conv1 and conv2 only). The
    backbone becomes its plugin-capable form
    (:data:`~mmattn.config.derive.PLUGIN_FORMS`): mmdet's
    ``ResNet``/``ResNetV1d`` -> ``PluginResNet``, ``ResNeXt`` ->
    ``PluginResNeXt``, mmseg's ``ResNetV1c``/``ResNetV1d`` -> ``PluginResNetV1c``/
    ``PluginResNetV1d``, its ``ResNet``/``ResNeXt`` -> ``PluginResNetV1b``/
    ``SegPluginResNeXt``. Same arguments, same parameter names.
  - ``after_stage``: on chosen outputs of any backbone (Swin, HRNet, MobileNetV2,
    ...), through ``AttentionBackbone``.
  - ``after_neck``: on chosen output levels of the neck, through
    ``AttentionNeck``; the position of a neck module such as ``ASFF``, which is
    appended to the neck (a neck list).

  Left out: the module's default position (its class's facts,
  :func:`~mmattn.config.paper_placements`) on a ResNet-family backbone, ``after_stage`` on
  any other.
- ``STAGES``: one digit 0/1 per ResNet stage, backbone output or neck level, e.g.
  ``0111``. Left out: the module's default stages (on a backbone that is no ResNet, aligned at
  its last output: ``0001`` is its last output, ``0111`` its last three); every
  neck level.
"""
import ast
import inspect
import re
from typing import Any, Dict, NamedTuple, Optional, Sequence, Union

import torch.nn as nn
from mmengine.registry import DefaultScope

from mmattn.models.utils.lookup import build_module as _build
from mmattn.models.utils.lookup import close_names, lookup_type
from .positions import POSITIONS, Stages, parse_stages

#: Arguments the insertion point sets, never the spec.
_NOT_ARGS = ('type', 'in_channels')


class ModuleSpec(NamedTuple):
    """A parsed ``TYPE[(ARGS)][:POSITION[:STAGES]]``; None where the text leaves it out."""

    type: str
    position: Optional[str]
    stages: Optional[Stages]
    args: Dict[str, Any]
    text: str


_SPEC = re.compile(r'(?P<type>[A-Za-z_][\w.]*)(?:\((?P<args>.*)\))?(?::(?P<rest>[^()]*))?',
                   re.S)


def _literal(node: ast.AST, spec: str) -> Any:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == 'dict' and not node.args:
        if any(kw.arg is None for kw in node.keywords):
            raise ValueError(f'module spec {spec!r}: dict(**...) is not allowed')
        return {kw.arg: _literal(kw.value, spec) for kw in node.keywords}
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [_literal(v, spec) for v in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    if isinstance(node, ast.Dict):
        return {_literal(k, spec): _literal(v, spec) for k, v in zip(node.keys, node.values)}
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(
            f'module spec {spec!r}: argument value {ast.unparse(node)!r} is not a '
            "literal (numbers, strings, True/False/None, tuples, lists, dict(...)); quote "
            "strings, e.g. mode='sequential'") from None


def parse_module_args(args: str, spec: str = '') -> Dict[str, Any]:
    """``"reduction=8, norm_cfg=dict(type='GN', num_groups=4)"`` -> a dict, by :mod:`ast`."""
    spec = spec or f'({args})'
    try:
        call = ast.parse(f'f({args})', mode='eval').body
    except SyntaxError as e:
        raise ValueError(f'module spec {spec!r}: the arguments ({args}) are not '
                         f'keyword=value pairs ({e.msg})') from None
    if not isinstance(call, ast.Call) or call.args or any(kw.arg is None
                                                          for kw in call.keywords):
        raise ValueError(f'module spec {spec!r}: arguments must be keyword=value '
                         'pairs, e.g. SE(reduction=8)')
    values = {}
    for kw in call.keywords:
        if kw.arg in _NOT_ARGS:
            raise ValueError(f'module spec {spec!r}: {kw.arg} is set by the insertion '
                             'point, not in the arguments')
        values[kw.arg] = _literal(kw.value, spec)
    return values


def parse_module_spec(spec: str, position: Optional[str] = None,
                      stages: Optional[Union[str, Sequence[bool]]] = None,
                      scope: Optional[str] = None, check: bool = True) -> ModuleSpec:
    """``'TYPE[(ARGS)][:POSITION[:STAGES]]'`` -> :class:`ModuleSpec`.

    ``position``/``stages`` (the sweep's ``--position``/``--stages``) fill what
    the spec leaves out; what both leave out stays None, for
    :func:`~mmattn.config.derive.derive_model` to fill from the base (the paper's
    placement on a ResNet, else every output). With ``check`` (the default) the type is
    looked up (in ``scope``, default: the current default scope) and the arguments
    checked against its constructor (:func:`check_module_args`).
    """
    text = spec.strip()
    match = _SPEC.fullmatch(text)
    rest = match.group('rest') if match else None
    if match is None or (rest is not None and rest.count(':') > 1):
        raise ValueError(f'module spec {spec!r} must be TYPE[(ARGS)][:POSITION[:STAGES]], '
                         "e.g. CBAM, CBAM:after_conv2:0111 or 'SE(reduction=8):after_conv3'")
    args = parse_module_args(match.group('args'), spec) if match.group('args') else {}
    parts = rest.split(':') if rest is not None else []
    spec_position = parts[0] if parts and parts[0] else None
    spec_stages = parts[1] if len(parts) > 1 and parts[1] else None
    position = spec_position or position
    if position is not None and position not in POSITIONS:
        raise ValueError(f'module spec {spec!r}: position {position!r} must be one of '
                         f'{POSITIONS}')
    stages = spec_stages if spec_stages is not None else stages
    parsed = ModuleSpec(match.group('type'), position,
                        None if stages is None else parse_stages(stages), args, text)
    if check:
        check_module_args(parsed, scope)
    return parsed


def _constructor_parameters(cls: Any) -> Optional[Dict[str, inspect.Parameter]]:
    """The keyword arguments ``cls`` takes, or None when it takes any (``**kwargs``)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):  # a builtin without a signature: cannot check
        return None
    if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {k: p for k, p in params.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def check_module_args(spec: ModuleSpec, scope: Optional[str] = None) -> Any:
    """The class ``spec.type`` names, after checking ``spec.args`` against its constructor.

    Raises:
        UnknownTypeError: no registry in reach of ``scope`` knows the type (with the
            closest names).
        ValueError: an argument the constructor does not take (with the ones it takes
            and the closest).
    """
    owner = f'module spec {spec.text!r}'
    if scope is None:
        cls = lookup_type(owner, dict(type=spec.type), 'module')
    else:
        with DefaultScope.overwrite_default_scope(scope):
            cls = lookup_type(owner, dict(type=spec.type), 'module')
    params = _constructor_parameters(cls)
    if params is None:
        return cls
    for name in spec.args:
        if name not in params:
            valid = [k for k in params if k not in ('self', 'init_cfg') + _NOT_ARGS]
            near = close_names(name, valid)
            hint = f' (closest: {", ".join(near)})' if near else ''
            raise ValueError(f'{owner}: {spec.type} has no argument {name!r}{hint}; its '
                             f'arguments are {", ".join(valid) or "none"}')
    return cls


def build_module(spec: Union[str, ModuleSpec], in_channels: int, **extra: Any) -> nn.Module:
    """The module a spec names, for ``in_channels`` input channels (``extra`` added to its
    arguments; the spec's own win): an unknown type is an ``UnknownTypeError`` naming the
    closest registered names."""
    spec = parse_module_spec(spec) if isinstance(spec, str) else spec
    cfg = dict(extra, **spec.args)
    cfg.update(type=spec.type, in_channels=in_channels)
    return _build(f'module spec {spec.text!r}', cfg)


__all__ = ['ModuleSpec', 'parse_module_args', 'parse_module_spec', 'check_module_args',
           'build_module']
