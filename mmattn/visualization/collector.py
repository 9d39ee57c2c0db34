"""Collect the attention maps of every mmattn module in a model with forward hooks.

A module shows what its class declares in ``_maps_`` (see
:mod:`mmattn.models.utils.attention_map`); :func:`find_attention_modules` finds every
module of a model that declares maps, named by its place (``backbone.layer3.2.cbam``),
and :class:`AttentionMapCollector` hooks them for the forward passes run inside it::

    with AttentionMapCollector(model) as collector:
        model(images)
    maps = collector.maps()       # {'backbone.layer3.2.cbam.spatial_gate': tensor, ...}

Maps declared with ``derive`` (DANetPAM's and multi-head self-attention's rows of query
pixels) are formed when asked for, by the module's own method, from what the hook kept.

A module started as the identity (inside an ``IdentityInit``: ``y = x + s * (m(x) - x)``,
from ``identity_init=True`` in a plugin, ``AttentionBackbone`` or ``AttentionNeck``) has
its maps recorded with the learned ``s`` of that wrapper (:attr:`CapturedMap.identity_scale`):
how much of the module the network uses, which its maps alone do not say.
"""
import fnmatch
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from torch import Tensor

from mmattn.models.utils.attention_map import MAP_KINDS, MapSpec, declared_maps
from mmattn.models.utils.identity_init import IdentityInit

__all__ = ['CapturedMap', 'AttentionMapCollector', 'find_attention_modules', 'identity_wrapper',
           'stage_of', 'to_canonical', 'query_index']

#: The canonical layout of each kind, as :func:`to_canonical` returns it; ``S`` is a
#: series (branches, heads, levels, columns; 1 when the map has none).
CANONICAL = {
    'channel': 'BSC',
    'spatial': 'BSHW',
    'profile': 'BCL',
    'matrix': 'BSIJ',
    'query': 'BSQHW',
}
_STAGE = re.compile(r'^layer(\d+)$')


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


def stage_of(name: str) -> Optional[int]:
    """The ResNet stage of a module path: ``backbone.layer3.2.cbam`` -> 3; None outside."""
    for part in name.split('.'):
        match = _STAGE.match(part)
        if match:
            return int(match.group(1))
    return None


def _selected(model: nn.Module, name: str, patterns: Optional[Sequence[str]]) -> bool:
    if not patterns:
        return True
    # A pattern matches the module's path or type, or those of a module it sits in
    # (so 'DualAttention' selects the PAM and CAM inside it).
    parts = name.split('.')
    candidates = []
    for i in range(len(parts), 0, -1):
        path = '.'.join(parts[:i])
        candidates += [path, type(model.get_submodule(path)).__name__]
    return any(fnmatch.fnmatchcase(c, p) for p in patterns for c in candidates)


def find_attention_modules(model: nn.Module,
                           modules: Optional[Sequence[str]] = None,
                           stages: Optional[Iterable[int]] = None) -> Dict[str, nn.Module]:
    """Every module of ``model`` that declares maps, by its path in the model.

    Args:
        model (nn.Module): The model (a DDP/FSDP wrapper is looked through).
        modules (Sequence[str], optional): Keep the modules whose path or type, or the
            path or type of a module they sit in, matches one of these shell patterns
            (``'CBAM'``, ``'backbone.layer4.*'``, ``'neck*'``). Default: all.
        stages (Iterable[int], optional): Keep the modules of these ResNet stages (a
            ``layerN`` in the path; 1-based as mmdet names them). Default: all.
    """
    model = _unwrap(model)
    stages = None if stages is None else set(stages)
    found = OrderedDict()
    for name, module in model.named_modules():
        if not declared_maps(module):
            continue
        if stages is not None and stage_of(name) not in stages:
            continue
        if _selected(model, name, modules):
            found[name] = module
    return found


def identity_wrapper(model: nn.Module, name: str) -> Optional[IdentityInit]:
    """The innermost ``IdentityInit`` the module at path ``name`` of ``model`` sits in
    (``backbone.layer3.1.cbam.module`` -> the wrapper ``backbone.layer3.1.cbam``; the PAM of a
    wrapped DualAttention -> the DualAttention's wrapper), or None."""
    model = _unwrap(model)
    parts = name.split('.')
    for i in range(len(parts) - 1, -1, -1):  # up to the model itself ('')
        parent = model.get_submodule('.'.join(parts[:i]))
        if isinstance(parent, IdentityInit):
            return parent
    return None


class CapturedMap(NamedTuple):
    """One map read by a hook in one forward call.

    Attributes:
        name (str): ``'<module path>.<map name>'``, with ``'[i]'`` appended when the
            module ran more than once in the forward pass (the i-th call: ASFF's target
            level i, a shared module's level i).
        module_name (str): The module's path in the model.
        module (nn.Module): The module.
        map_name (str): The key in the module's ``_maps_``.
        spec (MapSpec): Its declaration.
        call (int): Which call of the module it comes from.
        captured (Tensor): What the hook read (a detached copy): the map, or the input
            a ``derive`` method turns into the map.
        identity_scale (float, optional): The learned ``s`` of the ``IdentityInit`` the
            module sits in (read when the records were asked for), None outside one.
    """

    name: str
    module_name: str
    module: nn.Module
    map_name: str
    spec: MapSpec
    call: int
    captured: Tensor
    identity_scale: Optional[float] = None

    def value(self, queries: Optional[Sequence[Tuple[float, float]]] = None) -> Tensor:
        """The map, in its declared layout.

        Args:
            queries (Sequence[tuple[float, float]], optional): For query maps: the query
                pixels as ``(u, v)`` fractions of the width and height of the captured
                feature map's extent (the network's input). Default: its centre.
        """
        if self.spec.derive is None:
            return self.captured
        method = getattr(self.module, self.spec.derive)
        with torch.no_grad():
            if self.spec.kind == 'query':
                h, w = self.captured.shape[-2:]
                index = query_index(queries or [(0.5, 0.5)], h, w,
                                    device=self.captured.device)
                return method(self.captured, index)
            return method(self.captured)


def query_index(queries: Sequence[Tuple[float, float]], height: int, width: int,
                device=None) -> Tensor:
    """Flat positions ``h * W + w`` of the cells holding ``(u, v)`` fractions of a map."""
    rows = [min(max(int(v * height), 0), height - 1) for _, v in queries]
    cols = [min(max(int(u * width), 0), width - 1) for u, _ in queries]
    return torch.tensor([r * width + c for r, c in zip(rows, cols)], dtype=torch.long,
                        device=device)


class AttentionMapCollector:
    """Hooks on every map-declaring module of a model; a context manager.

    Inside the ``with`` block each forward pass of a hooked module records its maps
    (``clear()`` forgets them); leaving the block removes the hooks.

    Args:
        model (nn.Module): The model (a DDP wrapper is looked through).
        modules, stages: Select modules, as in :func:`find_attention_modules`.
    """

    def __init__(self,
                 model: nn.Module,
                 modules: Optional[Sequence[str]] = None,
                 stages: Optional[Iterable[int]] = None) -> None:
        self.modules = find_attention_modules(model, modules, stages)
        self._wrappers = {name: identity_wrapper(model, name) for name in self.modules}
        self._handles: list = []
        self._records: Dict[Tuple[str, str], List[Tensor]] = OrderedDict()

    def __enter__(self) -> 'AttentionMapCollector':
        for module_name, module in self.modules.items():
            for map_name, spec in declared_maps(module).items():
                key = (module_name, map_name)
                self._records[key] = []
                if spec.source == '':
                    # The module's own input.
                    handle = module.register_forward_pre_hook(self._pre_hook(key))
                else:
                    handle = module.get_submodule(spec.source).register_forward_hook(
                        self._hook(key))
                self._handles.append(handle)
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, key):
        def hook(module, args, output):
            self._records[key].append(output.detach().clone())
        return hook

    def _pre_hook(self, key):
        def hook(module, args):
            self._records[key].append(args[0].detach().clone())
        return hook

    def clear(self) -> None:
        """Forget what was recorded (the hooks stay)."""
        for calls in self._records.values():
            calls.clear()

    def records(self) -> List[CapturedMap]:
        """Every recorded map, in module order, then declaration order, then call order."""
        out = []
        for (module_name, map_name), calls in self._records.items():
            module = self.modules[module_name]
            spec = declared_maps(module)[map_name]
            wrapper = self._wrappers[module_name]
            scale = None if wrapper is None else float(wrapper.scale.detach().float())
            for call, captured in enumerate(calls):
                name = f'{module_name}.{map_name}' if module_name else map_name
                if len(calls) > 1:
                    name += f'[{call}]'
                out.append(CapturedMap(name, module_name, module, map_name, spec, call,
                                       captured, scale))
        return out

    def maps(self, queries: Optional[Sequence[Tuple[float, float]]] = None
             ) -> Dict[str, Tensor]:
        """Every recorded map by name, in its declared layout (derived maps formed now).

        Args:
            queries: Query pixels of query maps, see :meth:`CapturedMap.value`.
        """
        return OrderedDict((r.name, r.value(queries)) for r in self.records())


def to_canonical(value: Tensor, spec: MapSpec) -> Tuple[Tensor, str]:
    """A map in the canonical layout of its kind (:data:`CANONICAL`), and, for profiles,
    the axis (``'H'`` or ``'W'``) its positions run along (else ``''``).

    Singleton dims (``1``) are dropped; the one letter outside the kind's layout, if any,
    becomes the series ``S`` (inserted with size 1 when absent).
    """
    if spec.kind not in MAP_KINDS:
        raise ValueError(f'mmattn maps: unknown kind {spec.kind!r}, must be one of {MAP_KINDS}')
    layout = spec.layout
    if len(layout) != value.dim():
        raise ValueError(f'mmattn maps: layout {layout!r} does not fit a map of shape '
                         f'{tuple(value.shape)}')
    keep = [i for i, letter in enumerate(layout) if letter != '1']
    value = value.reshape([value.shape[i] for i in keep])
    letters = [layout[i] for i in keep]
    target = CANONICAL[spec.kind]
    axis = ''
    if spec.kind == 'profile':
        axis = 'H' if 'H' in letters else 'W'
        letters = ['L' if letter == axis else letter for letter in letters]
    extra = [letter for letter in letters if letter == 'S' or letter not in target]
    if len(extra) > 1 or (extra and 'S' not in target):
        raise ValueError(f'mmattn maps: layout {layout!r} has more than the one series a '
                         f'{spec.kind} map can have')
    if extra:
        letters = ['S' if letter == extra[0] else letter for letter in letters]
    elif 'S' in target:
        value = value.unsqueeze(1)
        letters.insert(1, 'S')
    if sorted(letters) != sorted(target):
        raise ValueError(f'mmattn maps: layout {layout!r} does not read as a {spec.kind} '
                         f'map ({target})')
    return value.permute([letters.index(letter) for letter in target]), axis
