"""Which modules a benchmark runs, and how each is built: by name, never from a fixed list.

A module is named in the one spec grammar of mmattn (:mod:`mmattn.config.spec`), the one
``--attention`` and the sweep read, without a position:

* ``SE`` -- a type in mmengine's root ``MODELS`` (every mmattn module, and
  mmcv's ContextBlock, GeneralizedAttention, NonLocal2d, CrissCrossAttention);
* ``DANetPAM(impl='plain', reduction=8)`` -- with keyword arguments (Python literals,
  checked against the constructor when the spec is parsed);
* ``baseline:CoTAttention`` -- the direct transcription registered in
  :data:`mmattn.analysis.baselines.BASELINES`, built with the same arguments.

``in_channels`` is always passed first. Overrides given for a type name
(``--kwargs "DANetPAM(impl='plain')"``) apply to every spec of that type, inline
arguments win over them.
"""
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple

import torch.nn as nn

from mmattn.config import parse_module_spec, to_python
from mmattn.models import list_attention_modules
from mmattn.models.utils.lookup import build_module as build_registered
from mmattn.registry import ROOT_MODELS

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
class BenchSpec:
    """One row of a module benchmark: a type, where it comes from, its arguments."""

    name: str
    kwargs: Dict[str, Any] = field(default_factory=dict)
    baseline: bool = False

    @property
    def label(self) -> str:
        """The spec as it would be written: ``baseline:DANetPAM(impl='plain')``."""
        label = (BASELINE_PREFIX if self.baseline else '') + self.name
        if self.kwargs:
            label += '(' + ', '.join(f'{k}={to_python(v)}' for k, v in self.kwargs.items()) + ')'
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


def parse_spec(text: str) -> BenchSpec:
    """``[baseline:]TYPE[(ARGS)]`` -> :class:`BenchSpec`, with mmattn's spec grammar.

    Raises:
        ValueError: the spec is malformed, names a position (a module runs alone here), or
            an argument the module does not take.
        UnknownTypeError: no registry knows the type.
    """
    text = text.strip()
    baseline = text.startswith(BASELINE_PREFIX)
    if baseline:
        text = text[len(BASELINE_PREFIX):]
    import_all()
    # A baseline takes the arguments of the module it transcribes: check against that.
    spec = parse_module_spec(text)
    if spec.position is not None or spec.stages is not None:
        raise ValueError(f'benchmark: module spec {text!r} names a position; the benchmark '
                         'runs each module alone: give TYPE[(ARGS)]')
    return BenchSpec(spec.type, dict(spec.args), baseline)


def parse_overrides(items: Optional[Iterable[str]]) -> Dict[str, Dict[str, Any]]:
    """``["DANetPAM(impl='plain')", 'SE(reduction=8)']`` -> per type name kwargs."""
    overrides: Dict[str, Dict[str, Any]] = {}
    for item in items or ():
        spec = parse_spec(item)
        if spec.baseline or not spec.kwargs:
            raise ValueError(f'benchmark: override {item!r} must read TYPE(ARGS), e.g. '
                             "\"DANetPAM(impl='plain')\"")
        overrides.setdefault(spec.name, {}).update(spec.kwargs)
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


def default_specs(mmcv_plugins: bool = True) -> List[BenchSpec]:
    """Every registered 2D mmattn module, then mmcv's attention plugins that exist."""
    import_all()
    specs = [BenchSpec(name) for name in list_attention_modules()]
    if mmcv_plugins:
        specs += [BenchSpec(name) for name in MMCV_PLUGINS if ROOT_MODELS.get(name) is not None]
    return specs


def has_baseline(name: str) -> bool:
    from mmattn.analysis.baselines import BASELINES
    return BASELINES.get(name) is not None


def module_kwargs(spec: BenchSpec,
                  overrides: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The keyword arguments (besides in_channels) a spec builds with."""
    kwargs = dict(MMCV_PLUGINS.get(spec.name, {}))
    kwargs.update((overrides or {}).get(spec.name, {}))
    kwargs.update(spec.kwargs)
    return kwargs


def build_module(spec: BenchSpec, in_channels: int,
                 overrides: Optional[Dict[str, Dict[str, Any]]] = None) -> nn.Module:
    """Build the module a spec names, for ``in_channels`` input channels (an unknown type
    is an ``UnknownTypeError`` naming the closest registered names)."""
    import_all()
    kwargs = module_kwargs(spec, overrides)
    cfg = dict(type=spec.name, in_channels=in_channels, **kwargs)
    if spec.baseline:
        from mmattn.analysis.baselines import BASELINES
        return build_registered(f'benchmark: {spec.label}', cfg, 'baseline', BASELINES)
    return build_registered(f'benchmark: {spec.label}', cfg)


def expand_specs(specs: List[BenchSpec], with_baselines: bool) -> List[BenchSpec]:
    """``specs``, each followed by its baseline when asked and when one is registered."""
    if not with_baselines:
        return list(specs)
    import_all()
    out: List[BenchSpec] = []
    for spec in specs:
        out.append(spec)
        if not spec.baseline and has_baseline(spec.name):
            out.append(BenchSpec(spec.name, dict(spec.kwargs), baseline=True))
    return out


def resolve_specs(names: Optional[List[str]], with_baselines: bool = False,
                  mmcv_plugins: bool = True) -> List[BenchSpec]:
    """Specs from command-line names (default: :func:`default_specs`)."""
    specs = [parse_spec(n) for n in names] if names else default_specs(mmcv_plugins)
    return expand_specs(specs, with_baselines)


def shape_tuple(shape: Iterable[int]) -> Tuple[int, int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f'benchmark: shape {shape} must be four positive ints B C H W')
    return shape  # type: ignore


__all__ = ['MMCV_PLUGINS', 'BenchSpec', 'build_module', 'default_specs', 'expand_specs',
           'import_all', 'import_baselines', 'module_kwargs', 'parse_overrides', 'parse_spec',
           'resolve_specs', 'shape_tuple']
