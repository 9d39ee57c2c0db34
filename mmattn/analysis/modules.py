"""Which modules a benchmark runs, and how each is built: by name, never from a fixed list.

A module is named by a spec string:

* ``SE`` -- a type in mmengine's root ``MODELS`` (every mmattn module, and
  mmcv's ContextBlock, GeneralizedAttention, NonLocal2d, CrissCrossAttention);
* ``DANetPAM[impl=plain,reduction=8]`` -- with keyword arguments (values are
  Python literals; anything else is taken as a string);
* ``baseline:CoTAttention`` -- the direct transcription registered in
  :data:`mmattn.analysis.baselines.BASELINES`, built with the same arguments.

``in_channels`` is always passed first. Overrides given for a type name
(``--kwargs DANetPAM:impl=plain``) apply to every spec of that type, inline
arguments win over them.
"""
import ast
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch.nn as nn

from mmattn.registry import ROOT_MODELS, list_attention_modules

#: mmcv's attention plugins that mmdet configs can name, and the arguments an
#: mmdet config gives them (mmcv's ContextBlock has no default ratio: 1/16 is
#: GCNet's r16; GeneralizedAttention as mmdet's empirical-attention '0010' config).
MMCV_PLUGINS: Dict[str, Dict[str, Any]] = {
    'ContextBlock': dict(ratio=1. / 16),
    'GeneralizedAttention': dict(spatial_range=-1, num_heads=8, attention_type='0010',
                                 kv_stride=2),
    'NonLocal2d': dict(),
    'CrissCrossAttention': dict(),
}

BASELINE_PREFIX = 'baseline:'


@dataclass
class ModuleSpec:
    """One row of a module benchmark: a type, where it comes from, its arguments."""

    name: str
    kwargs: Dict[str, Any] = field(default_factory=dict)
    baseline: bool = False

    @property
    def label(self) -> str:
        label = (BASELINE_PREFIX if self.baseline else '') + self.name
        if self.kwargs:
            label += '[' + ','.join(f'{k}={v!r}' if isinstance(v, str) else f'{k}={v}'
                                    for k, v in self.kwargs.items()) + ']'
        return label

    @property
    def source(self) -> str:
        if self.baseline:
            return 'baseline'
        if self.name in MMCV_PLUGINS:
            return 'mmcv'
        cls = ROOT_MODELS.get(self.name)
        module = getattr(cls, '__module__', '') or ''
        return module.split('.')[0] if module else 'unknown'


def _split_top_level(text: str, sep: str = ',') -> List[str]:
    """Split on ``sep`` outside brackets and quotes."""
    parts, depth, quote, current = [], 0, '', ''
    for char in text:
        if quote:
            quote = '' if char == quote else quote
        elif char in '\'"':
            quote = char
        elif char in '([{':
            depth += 1
        elif char in ')]}':
            depth -= 1
        elif char == sep and depth == 0:
            parts.append(current)
            current = ''
            continue
        current += char
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts]


def parse_value(text: str) -> Any:
    """A Python literal if it is one (``8``, ``(3, 5)``, ``None``), else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_assignments(text: str) -> Dict[str, Any]:
    """``'a=1,b=(3,5),c=plain'`` -> ``{'a': 1, 'b': (3, 5), 'c': 'plain'}``."""
    kwargs = {}
    for item in _split_top_level(text):
        if '=' not in item:
            raise ValueError(f'benchmark: {item!r} is not a key=value argument')
        key, value = item.split('=', 1)
        kwargs[key.strip()] = parse_value(value.strip())
    return kwargs


def parse_spec(text: str) -> ModuleSpec:
    """Parse ``[baseline:]Name[k=v,...]`` (see the module docstring)."""
    text = text.strip()
    baseline = text.startswith(BASELINE_PREFIX)
    if baseline:
        text = text[len(BASELINE_PREFIX):]
    kwargs: Dict[str, Any] = {}
    if '[' in text:
        if not text.endswith(']'):
            raise ValueError(f'benchmark: module spec {text!r} must end with "]"')
        text, args = text[:-1].split('[', 1)
        kwargs = parse_assignments(args)
    if not text:
        raise ValueError('benchmark: empty module name')
    return ModuleSpec(text, kwargs, baseline)


def parse_overrides(items: Optional[Iterable[str]]) -> Dict[str, Dict[str, Any]]:
    """``['DANetPAM:impl=plain', 'SE:reduction=8']`` -> per type name kwargs."""
    overrides: Dict[str, Dict[str, Any]] = {}
    for item in items or ():
        if ':' not in item:
            raise ValueError(
                f'benchmark: override {item!r} must read Name:key=value[,key=value]')
        name, args = item.split(':', 1)
        overrides.setdefault(name.strip(), {}).update(parse_assignments(args))
    return overrides


def import_all() -> None:
    """Register everything a benchmark may name: mmattn, mmcv's plugins, the baselines."""
    import mmcv.cnn  # noqa: F401
    try:
        import mmcv.ops  # noqa: F401  (CrissCrossAttention)
    except ImportError:  # mmcv without compiled ops: CrissCrossAttention is missing
        pass
    import mmattn.models  # noqa: F401
    import_baselines()


def import_baselines() -> List[str]:
    """Import every file of ``mmattn.analysis.baselines``; the names of those that failed."""
    from mmattn.analysis import baselines
    failed = []
    for info in pkgutil.iter_modules(baselines.__path__):
        try:
            importlib.import_module(f'{baselines.__name__}.{info.name}')
        except Exception:  # one broken baseline file must not stop a benchmark
            failed.append(info.name)
    return failed


def default_specs(mmcv_plugins: bool = True) -> List[ModuleSpec]:
    """Every registered 2D mmattn module, then mmcv's attention plugins that exist."""
    import_all()
    specs = [ModuleSpec(name) for name in list_attention_modules()]
    if mmcv_plugins:
        specs += [ModuleSpec(name) for name in MMCV_PLUGINS if ROOT_MODELS.get(name) is not None]
    return specs


def has_baseline(name: str) -> bool:
    from mmattn.analysis.baselines import BASELINES
    return BASELINES.get(name) is not None


def module_kwargs(spec: ModuleSpec,
                  overrides: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The keyword arguments (besides in_channels) a spec builds with."""
    kwargs = dict(MMCV_PLUGINS.get(spec.name, {}))
    kwargs.update((overrides or {}).get(spec.name, {}))
    kwargs.update(spec.kwargs)
    return kwargs


def build_module(spec: ModuleSpec, in_channels: int,
                 overrides: Optional[Dict[str, Dict[str, Any]]] = None) -> nn.Module:
    """Build the module a spec names, for ``in_channels`` input channels."""
    import_all()
    kwargs = module_kwargs(spec, overrides)
    if spec.baseline:
        from mmattn.analysis.baselines import BASELINES
        registry = BASELINES
    else:
        registry = ROOT_MODELS
    if registry.get(spec.name) is None:
        raise KeyError(f'benchmark: {spec.label} is not registered in {registry.name!r}')
    return registry.build(dict(type=spec.name, in_channels=in_channels, **kwargs))


def expand_specs(specs: List[ModuleSpec], with_baselines: bool) -> List[ModuleSpec]:
    """``specs``, each followed by its baseline when asked and when one is registered."""
    if not with_baselines:
        return list(specs)
    import_all()
    out: List[ModuleSpec] = []
    for spec in specs:
        out.append(spec)
        if not spec.baseline and has_baseline(spec.name):
            out.append(ModuleSpec(spec.name, dict(spec.kwargs), baseline=True))
    return out


def resolve_specs(names: Optional[List[str]], with_baselines: bool = False,
                  mmcv_plugins: bool = True) -> List[ModuleSpec]:
    """Specs from command-line names (default: :func:`default_specs`)."""
    specs = [parse_spec(n) for n in names] if names else default_specs(mmcv_plugins)
    return expand_specs(specs, with_baselines)


def shape_tuple(shape: Iterable[int]) -> Tuple[int, int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f'benchmark: shape {shape} must be four positive ints B C H W')
    return shape  # type: ignore


__all__ = ['MMCV_PLUGINS', 'ModuleSpec', 'build_module', 'default_specs', 'expand_specs',
           'import_all', 'import_baselines', 'module_kwargs', 'parse_assignments',
           'parse_overrides', 'parse_spec', 'parse_value', 'resolve_specs', 'shape_tuple']
