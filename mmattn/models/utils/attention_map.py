"""What a module shows: its attention maps, declared once and captured by forward hooks.

Each module that has something to show declares it in a class attribute ``_maps_``, a
dict from a map's name to a :class:`MapSpec`. A spec names the submodule whose forward
output *is* the map (``source``), so a forward hook on that submodule reads the tensor
the module computes, with no second implementation of the math:

- where the map already leaves a submodule (an activation built from ``gate_cfg``:
  ``SE.gate``, ``CBAM.channel_gate``, ``CBAM.spatial_gate``), the spec names it;
- where the map is computed functionally (a softmax, a gate module called twice), the
  forward routes it through an :class:`AttentionMap`, a parameter-free identity probe
  (one call; no state dict entry, nothing in traced, exported or compiled graphs).

Maps too large to keep (DANetPAM's ``N x N`` rows, multi-head self-attention) are
computed on demand: the probe holds the module's input and the spec names a method of
the module (``derive``) that turns it into the rows of chosen query pixels with the
module's own projections.

The spec also states the range the module's math promises (``'gate'``: every value in
[0, 1]; ``'softmax'``: additionally sums to 1 over the dims ``over``), which the
registry-wide test checks, and how the map reads for plotting (``kind``, ``layout``).
``mmattn.visualization`` collects and draws them.
"""
from typing import Dict, NamedTuple, Optional

import torch.nn as nn
from torch import Tensor

#: How a map reads. ``channel``: a value per channel (``C`` in the layout), possibly for
#: several series (SK's branches); ``spatial``: a map over the input's positions (``H``,
#: ``W``); ``profile``: a value per channel and position along one axis (``C`` and ``H``
#: or ``W``); ``matrix``: a square attention matrix between channels (``I`` attends to
#: ``J``); ``query``: attention rows of query pixels (``Q``) over the positions.
MAP_KINDS = ('channel', 'spatial', 'profile', 'matrix', 'query')
MAP_RANGES = ('gate', 'softmax', None)


class MapSpec(NamedTuple):
    """One attention map a module shows.

    Attributes:
        source (str): Attribute path of the submodule whose forward output is captured
            (a gate activation or an :class:`AttentionMap` probe).
        layout (str): One letter per dim of the map (after ``derive``): ``B`` batch,
            ``C`` channels, ``H``/``W`` positions, ``I``/``J`` the two sides of a
            matrix, ``Q`` query pixels, ``1`` a singleton, any other letter a series
            (branches, heads, levels, columns).
        kind (str): One of :data:`MAP_KINDS`.
        range (str, optional): ``'gate'`` (values in [0, 1]), ``'softmax'`` (in [0, 1]
            and summing to 1 over the dims ``over``) or None (unbounded).
        over (str): For ``'softmax'``: the layout letters the map sums to 1 over.
        series (str): What the figure does with a series letter: ``'mean'`` (average
            the series) or ``'split'`` (one panel or bar series each, e.g. ASFF's
            source levels, SK's branches).
        series_name (str): What one series is, for titles (``'branch'``). Default:
            its layout letter.
        derive (str, optional): Name of a method of the module turning the captured
            tensor into the map: ``method(captured)``, or, for ``kind='query'``,
            ``method(captured, index)`` with ``index`` the flat ``h * W + w`` positions
            of the query pixels (a LongTensor ``[Q]``).
    """

    source: str
    layout: str
    kind: str
    range: Optional[str] = 'gate'
    over: str = ''
    series: str = 'mean'
    derive: Optional[str] = None
    series_name: str = ''


class AttentionMap(nn.Module):
    """A parameter-free identity probe: ``forward(x)`` returns ``x`` itself.

    A module routes a map it computes functionally through one, so that a forward hook
    can read the map (see the module docstring). It has no parameters or buffers, so
    state dicts, checkpoints and converters are unchanged.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x


def declared_maps(module: nn.Module) -> Dict[str, MapSpec]:
    """The maps ``module``'s class declares (``_maps_``); empty when it declares none."""
    return dict(getattr(type(module), '_maps_', None) or {})


__all__ = ['AttentionMap', 'MapSpec', 'MAP_KINDS', 'MAP_RANGES', 'declared_maps']
