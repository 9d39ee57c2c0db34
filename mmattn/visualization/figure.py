"""Figures of attention maps: panels from collected maps, drawn with mmengine and matplotlib.

:func:`build_panels` turns the maps of one image into panels and the numbers each panel
draws; :func:`render_figure` lays the panels out in a grid and returns it as an RGB
array (matplotlib's Agg canvas, no window). The overlays of spatial maps on the image
are drawn by mmengine's :meth:`Visualizer.draw_featmap` (colour map and blending);
bars, heat maps, markers and the grid are matplotlib's.

How each kind of map is drawn:

- spatial (CBAM's spatial gate, CoT's softmax, ASFF's fusion weights, ...): cropped to
  the part of the network input the image fills (the rest is padding), upsampled
  bilinearly to the image's size (so its aspect is the image's) and overlaid on it;
  a series is averaged or, when the spec says ``series='split'``, drawn one per panel;
- query (DANetPAM, multi-head self-attention): one overlay per query pixel, the pixel
  marked, heads averaged;
- channel (SE, ECA, CBAM's channel gate, SK's branch weights): sorted values as bars,
  one panel per ResNet stage (or module outside the stages) and map, one series per
  module and branch;
- profile (Coordinate Attention's, SCSA's, Triplet's per-row/column gates): a heat map
  of channels (sorted by their mean) against positions;
- matrix (DANetCAM's, SCSA's, FLA's channel attention): a heat map, series averaged.

What keeps a figure from misleading:

- a panel whose values differ by at most :data:`FLAT_RANGE` of their largest magnitude
  is *flat*: drawn without colours (the image as it is, a heat map in one colour, bars
  on an axis around the value) and labelled with its one value, since a min-max scaled
  colour map would show the rounding noise of a constant (a CBAM gate within
  0.4999998-0.5000005 after two iterations) as bold structure;
- colour bars and value axes span the values' own range, with ticks at its ends and
  middle written with as many digits as it takes to tell them apart;
- a module inside an ``IdentityInit`` (``y = x + s * (m(x) - x)``) shows its learned
  ``s`` in its panel's title (channel panels: in its series' label), since a gate
  behind ``s = 0.001`` does almost nothing whatever its values.
"""
import math
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from .collector import CANONICAL, CapturedMap, stage_of, to_canonical

__all__ = ['ImageGeometry', 'Panel', 'build_panels', 'render_figure', 'draw_figure',
           'FLAT_RANGE', 'flat_value', 'value_digits', 'format_value', 'colour_bar_ticks']

#: A panel is drawn flat (one value, no colours) when its values differ by at most this
#: fraction of their largest magnitude: 5e-5 around a gate of 0.5. Float32 rounding of
#: values computed from the same inputs is about 1e-7 of them; trained gates that select
#: anything differ by 1e-2 and more.
FLAT_RANGE = 1e-4


def flat_value(low: float, high: float) -> Optional[float]:
    """The one value a panel with values in ``[low, high]`` is drawn as, when that range is
    within :data:`FLAT_RANGE` of the largest magnitude (all zeros included), else None
    (also for a panel without finite values: nan compares false)."""
    if high - low <= FLAT_RANGE * max(abs(low), abs(high)):
        return (low + high) / 2
    return None


def value_digits(low: float, high: float) -> int:
    """Significant digits that write ``low``, the middle and ``high`` apart (at least 3):
    0.4999, 0.5 and 0.5001 need 4, not the 0.5, 0.5, 0.5 of ``%.3g``."""
    magnitude = max(abs(low), abs(high))
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low or magnitude == 0:
        return 3
    return max(3, math.ceil(math.log10(magnitude / (high - low))) + 2)


def format_value(value: float, digits: int) -> str:
    return f'{value:.{digits}g}'


def _values_range(values) -> Tuple[float, float]:
    """``(min, max)`` of the finite values (nan, nan when there are none: never flat)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    return float(values.min()), float(values.max())


def _finite(value_range: Tuple[float, float]) -> bool:
    return all(math.isfinite(v) for v in value_range)


def _flat_label(value: float, low: float, high: float) -> str:
    digits = value_digits(low, high) if high > low else 7
    return f'flat: {format_value(value, digits)}\n(max - min = {high - low:.1g})'


class ImageGeometry(NamedTuple):
    """Where an image sits in the network input.

    Attributes:
        ori_shape (tuple[int, int]): ``(H, W)`` of the image the figure shows.
        img_shape (tuple[int, int]): ``(h, w)`` of the resized image in the input.
        input_shape (tuple[int, int]): ``(H_in, W_in)`` of the network input (the
            batch, padded), which the feature maps cover.
    """

    ori_shape: Tuple[int, int]
    img_shape: Tuple[int, int]
    input_shape: Tuple[int, int]

    @classmethod
    def from_metainfo(cls, meta: dict) -> 'ImageGeometry':
        """From an mmdet/mmseg data sample's metainfo (``ori_shape``, ``img_shape`` and
        ``batch_input_shape`` or ``pad_shape``)."""
        ori = tuple(meta['ori_shape'][:2])
        img = tuple(meta.get('img_shape', ori)[:2])
        inp = meta.get('batch_input_shape', meta.get('pad_shape', img))
        return cls(ori, img, tuple(inp[:2]))

    def to_image(self, maps: Tensor) -> Tensor:
        """``[P, h, w]`` maps over the input -> ``[P, H, W]`` over the image: the padding
        cropped off, then bilinear upsampling to the image's size."""
        h, w = maps.shape[-2:]
        rows = min(h, max(1, math.ceil(h * self.img_shape[0] / self.input_shape[0] - 1e-6)))
        cols = min(w, max(1, math.ceil(w * self.img_shape[1] / self.input_shape[1] - 1e-6)))
        maps = maps[..., :rows, :cols].float()
        return F.interpolate(maps[None], size=self.ori_shape, mode='bilinear',
                             align_corners=False)[0]

    def to_input(self, points: Sequence[Tuple[float, float]]) -> List[Tuple[float, float]]:
        """Pixels ``(x, y)`` of the image -> ``(u, v)`` fractions of the input extent."""
        sy = self.img_shape[0] / self.ori_shape[0] / self.input_shape[0]
        sx = self.img_shape[1] / self.ori_shape[1] / self.input_shape[1]
        return [((x + 0.5) * sx, (y + 0.5) * sy) for x, y in points]


class Panel(NamedTuple):
    """One panel of a figure.

    Attributes:
        style (str): ``'image'`` (an RGB image), ``'overlay'`` (an RGB overlay with a
            colour bar of ``value_range``), ``'bars'`` or ``'heatmap'``.
        title (str): Its title.
        modules (tuple[str]): Paths of the modules whose maps it draws.
        maps (tuple[str]): Names of those maps.
        data (dict): What it draws (``image``; ``series``: label -> sorted values;
            ``matrix``), plus ``value_range``, ``points`` (query pixels), axis labels.
    """

    style: str
    title: str
    modules: Tuple[str, ...]
    maps: Tuple[str, ...]
    data: dict


def _overlay(image: np.ndarray, heat: Tensor) -> np.ndarray:
    from mmengine.visualization import Visualizer

    # topk=0 and no reduction: the one map is min-max scaled, coloured and blended.
    return Visualizer.draw_featmap(heat[None], overlaid_image=image, channel_reduction=None,
                                   topk=0, alpha=0.5)


def _group_of(module_name: str) -> str:
    """Channel maps are drawn per ResNet stage: ``backbone.layer3.1.se`` -> ``backbone.layer3``
    (a module outside the stages is its own group)."""
    stage = stage_of(module_name)
    if stage is None:
        return module_name
    parts = module_name.split('.')
    return '.'.join(parts[:parts.index(f'layer{stage}') + 1])


def _series_name(spec) -> str:
    if spec.series_name:
        return spec.series_name
    target = CANONICAL[spec.kind]
    return next((c for c in spec.layout if c != '1' and c not in target), 'S')


def _short(name: str) -> str:
    return name.replace('backbone.', '', 1)


def _axis_range(spec, low: float, high: float) -> Tuple[float, float]:
    """The value axis of a bars panel: the values' own range, 5% wider (a flat panel's: 0.1%
    of its value either side), within the range the map's math promises. (Trained gates
    often sit in a narrow band, e.g. SE's around 0.5; a fixed [0, 1] would flatten the
    differences between channels.)"""
    flat = flat_value(low, high)
    pad = 0.05 * (high - low) if flat is None else max(1e-3 * abs(flat), 1e-6)
    low, high = low - pad, high + pad
    if spec.range in ('gate', 'softmax'):
        low, high = max(low, 0.0), min(high, 1.0)
    return low, high


def _scales(scales: Dict[str, Optional[float]]) -> Dict[str, float]:
    """The learned ``s`` of the modules of a panel that sit in an ``IdentityInit``."""
    return {name: s for name, s in scales.items() if s is not None}


def _with_scale(text: str, scale: Optional[float]) -> str:
    """``text`` with the learned ``s`` of the module's identity start, if it has one."""
    if scale is None:
        return text
    return f'{text}, s={scale:.3g}' + (' (not used yet)' if scale == 0 else '')


def _heat_range(matrix: np.ndarray) -> dict:
    """A heat map's colours span its values' own range (a flat one's: none, see
    :func:`flat_value`)."""
    low, high = _values_range(matrix)
    return dict(value_range=(low, high), flat=flat_value(low, high))


def build_panels(records: Sequence[CapturedMap],
                 sample: int,
                 geometry: ImageGeometry,
                 image: np.ndarray,
                 points: Sequence[Tuple[float, float]] = ((0.5, 0.5), ),
                 points_in_pixels: bool = False) -> Tuple[List[Panel], Dict[str, np.ndarray]]:
    """The panels of one image, and the numbers behind them.

    Args:
        records (Sequence[CapturedMap]): What a collector recorded for a batch.
        sample (int): The image's index in the batch.
        geometry (ImageGeometry): Where the image sits in the network input.
        image (np.ndarray): The image, RGB, ``geometry.ori_shape``.
        points (Sequence[tuple]): Query pixels of query maps: ``(x, y)`` pixels of the
            image with ``points_in_pixels``, else ``(x, y)`` fractions of its width and
            height. Default: the centre.
        points_in_pixels (bool): See ``points``.

    Returns:
        tuple: The panels, and a dict of arrays: ``map/<map>`` the values behind the
        panel, at the map's own resolution, in its kind's canonical layout less the
        batch (see :data:`~.collector.CANONICAL`: channel ``[S, C]`` unsorted, spatial
        ``[S, h, w]``, query ``[S, Q, h, w]`` for the query pixels, profile ``[C, L]``
        unsorted; matrix ``[I, J]``, its series averaged as drawn); for spatial and
        query maps ``drawn/<map>``, the ``[P, H, W]`` maps overlaid on the image
        (cropped to it and upsampled to its size); and ``scale/<module>``, the learned
        ``s`` of each module inside an ``IdentityInit``.

        Each panel's ``data`` holds ``value_range``, the ``(min, max)`` of what it draws
        (bars: of the value axis, the values' own in ``true_range``), and ``flat``, the
        one value of a flat panel (see :func:`flat_value`) or None.
    """
    H, W = geometry.ori_shape
    if points_in_pixels:
        pixels = [(float(x), float(y)) for x, y in points]
    else:
        pixels = [(u * W - 0.5, v * H - 0.5) for u, v in points]
    queries = geometry.to_input(pixels)
    panels: List[Panel] = []
    numbers: Dict[str, np.ndarray] = OrderedDict()
    groups: Dict[tuple, dict] = OrderedDict()  # channel maps, per stage and map
    for record in records:
        value, axis = to_canonical(record.value(queries), record.spec)
        value = value[sample].detach().float().cpu()
        spec, name, kind = record.spec, record.name, record.spec.kind
        scale = record.identity_scale
        numbers[f'map/{name}'] = (value.mean(0) if kind == 'matrix' else value).numpy()
        if scale is not None:
            numbers[f'scale/{record.module_name}'] = np.asarray(scale, dtype=np.float32)
        call = f'[{record.call}]' if name.endswith(']') else ''
        title = (f'{_short(record.module_name)}\n' + _with_scale(
            f'{type(record.module).__name__} {record.map_name}{call}', scale))
        if kind == 'channel':
            where = _group_of(record.module_name)
            group = groups.setdefault(
                (where, type(record.module).__name__, record.map_name),
                dict(modules=[], maps=[], series=OrderedDict(), spec=spec, scales={}))
            group['modules'].append(record.module_name)
            group['scales'][record.module_name] = scale
            group['maps'].append(name)
            label = _with_scale((record.module_name[len(where):].lstrip('.')
                                 or record.module_name.rsplit('.', 1)[-1]) + call, scale)
            if spec.series == 'mean' and value.shape[0] > 1:
                value = value.mean(0, keepdim=True)
            for s, values in enumerate(value):
                key = f'{label} {_series_name(spec)} {s}' if value.shape[0] > 1 else label
                group['series'][key] = np.sort(values.numpy())[::-1]
        elif kind in ('spatial', 'query'):
            if kind == 'query':
                maps = value.mean(0)  # [Q, h, w]: heads averaged
                labels = [f'query ({x:.0f}, {y:.0f})' for x, y in pixels]
            elif spec.series == 'split' and value.shape[0] > 1:
                maps = value
                labels = [f'{_series_name(spec)} {s}' for s in range(value.shape[0])]
            else:
                maps = value.mean(0, keepdim=True)
                labels = ['mean over channels' if value.shape[0] > 1 else '']
            drawn = geometry.to_image(maps)  # [P, H, W]
            numbers[f'drawn/{name}'] = drawn.numpy()
            for p, d in enumerate(drawn):
                low, high = _values_range(d.numpy())
                flat = flat_value(low, high)
                # A flat map is not colour-scaled: min-max scaling would paint its
                # rounding noise in the full colour range.
                data = dict(image=image.copy() if flat is not None else _overlay(image, d),
                            value_range=(low, high), flat=flat,
                            scales=_scales({record.module_name: scale}))
                if kind == 'query':
                    data['points'] = [pixels[p]]
                panels.append(Panel('overlay', f'{title}\n{labels[p]}'.rstrip(),
                                    (record.module_name, ), (name, ), data))
        elif kind == 'profile':
            order = value.mean(1).argsort(descending=True)
            matrix = value[order].numpy()  # [C, L], channels sorted by their mean
            panels.append(Panel('heatmap', title, (record.module_name, ), (name, ),
                                dict(matrix=matrix, **_heat_range(matrix),
                                     scales=_scales({record.module_name: scale}),
                                     xlabel=f'position along {axis}',
                                     ylabel='channels, sorted')))
        elif kind == 'matrix':
            matrix = value.mean(0).numpy()  # [I, J]
            panels.append(Panel('heatmap', title, (record.module_name, ), (name, ),
                                dict(matrix=matrix, **_heat_range(matrix),
                                     scales=_scales({record.module_name: scale}),
                                     xlabel='attends to channel', ylabel='channel')))
    for (where, module_type, map_name), group in groups.items():
        low, high = _values_range(np.concatenate(list(group['series'].values())))
        panels.append(Panel('bars', f'{_short(where)}\n{module_type} {map_name}',
                            tuple(group['modules']), tuple(group['maps']),
                            dict(series=group['series'],
                                 value_range=_axis_range(group['spec'], low, high),
                                 true_range=(low, high), flat=flat_value(low, high),
                                 scales=_scales(group['scales']),
                                 # One series with an s: its label (the legend) shows it.
                                 legend=len(group['series']) > 1 or bool(
                                     _scales(group['scales'])),
                                 xlabel='channels, sorted', ylabel=map_name)))
    return panels, numbers


def colour_bar_ticks(low: float, high: float) -> Tuple[List[float], List[str]]:
    """Where a colour bar of ``[low, high]`` has its ticks (the ends and the middle) and
    what they read, with the digits that tell them apart (:func:`value_digits`)."""
    digits = value_digits(low, high)
    ticks = [low, (low + high) / 2, high]
    return ticks, [format_value(t, digits) for t in ticks]


def render_figure(panels: Sequence[Panel],
                  ncols: int = 5,
                  panel_size: Tuple[float, float] = (2.6, 2.5),
                  dpi: int = 80,
                  title: Optional[str] = None) -> np.ndarray:
    """Draw the panels in a grid (row-major, ``ncols`` wide); an RGB uint8 array.

    Every cell has the same fixed margins (title above, labels and colour bar beside),
    so no layout solver runs: the cost stays linear in the number of panels.
    """
    from mmengine.visualization.utils import img_from_canvas
    return img_from_canvas(draw_figure(panels, ncols, panel_size, dpi, title).canvas)


def draw_figure(panels: Sequence[Panel],
                ncols: int = 5,
                panel_size: Tuple[float, float] = (2.6, 2.5),
                dpi: int = 80,
                title: Optional[str] = None):
    """:func:`render_figure`'s matplotlib ``Figure`` (on an Agg canvas), before it becomes
    an array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator, FormatStrFormatter, MaxNLocator

    ncols = max(1, min(ncols, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    head = 0.35 if title else 0.05  # inches above the grid
    width, height = panel_size[0] * ncols, panel_size[1] * nrows + head
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.1 / height, va='top')
    # Inside a cell (inches): 0.55 for a three-line title, 0.45 for x labels, 0.5 for
    # y labels on the left, 0.6 for a colour bar on the right.
    cell_w, cell_h = panel_size
    for i, panel in enumerate(panels):
        row, col = divmod(i, ncols)
        x0, y0 = col * cell_w, height - head - (row + 1) * cell_h
        box = [(x0 + 0.5) / width, (y0 + 0.45) / height, (cell_w - 1.1) / width,
               (cell_h - 1.0) / height]
        ax = fig.add_axes(box)
        ax.set_title(panel.title, fontsize=6.5)
        ax.tick_params(labelsize=6)
        data = panel.data
        flat = data.get('flat')
        cbar = None
        if panel.style in ('image', 'overlay'):
            ax.imshow(data['image'])
            ax.set_axis_off()
            if panel.style == 'overlay' and flat is None and _finite(data['value_range']):
                # The colours of draw_featmap: jet, min-max scaled.
                cbar = ScalarMappable(Normalize(*data['value_range']), cmap='jet')
            for x, y in data.get('points', []):
                ax.scatter([x], [y], s=60, marker='o', facecolors='none',
                           edgecolors='white', linewidths=1.5)
                ax.scatter([x], [y], s=8, c='black')
        elif panel.style == 'bars':
            for label, values in data['series'].items():
                # Outlines, so that series lying on top of each other stay visible.
                ax.stairs(values, baseline=None, linewidth=1.2, label=label)
            low, high = data['value_range']
            if _finite(data['value_range']):
                ax.set_ylim(low, high)
            ax.yaxis.set_major_locator(MaxNLocator(4))
            ax.yaxis.set_major_formatter(
                FormatStrFormatter(f'%.{value_digits(low, high)}g'))
            ax.set_xlabel(data['xlabel'], fontsize=6)
            ax.set_ylabel(data['ylabel'], fontsize=6)
            if data.get('legend', len(data['series']) > 1):
                ax.legend(fontsize=5, loc='upper right')
        elif panel.style == 'heatmap':
            if flat is None:
                low, high = data['value_range'] if _finite(data['value_range']) else (0, 1)
                cbar = ax.imshow(data['matrix'], aspect='auto', cmap='viridis', vmin=low,
                                 vmax=high, interpolation='nearest')
            else:
                ax.imshow(np.zeros_like(data['matrix']), aspect='auto', cmap='Greys',
                          vmin=0, vmax=1, interpolation='nearest')
            ax.set_xlabel(data['xlabel'], fontsize=6)
            ax.set_ylabel(data['ylabel'], fontsize=6)
        else:
            raise ValueError(f'mmattn figures: unknown panel style {panel.style!r}')
        if flat is not None:
            low, high = data.get('true_range', data['value_range'])
            ax.text(0.5, 0.5, _flat_label(flat, low, high), transform=ax.transAxes,
                    ha='center', va='center', fontsize=6,
                    bbox=dict(boxstyle='round', facecolor='white', alpha=0.85))
        if cbar is not None:
            cax = fig.add_axes([box[0] + box[2] + 0.08 / width, box[1], 0.1 / width, box[3]],
                               label=f'colour bar {i}')
            bar = fig.colorbar(cbar, cax=cax)
            bar.ax.tick_params(labelsize=5)
            # Ticks at the ends and the middle of the true range, each written out in
            # full with the digits that tell them apart (no offset text over the title).
            ticks, labels = colour_bar_ticks(*data['value_range'])
            bar.locator = FixedLocator(ticks)
            bar.formatter = FixedFormatter(labels)
            bar.update_ticks()
    return fig


def image_panel(image: np.ndarray, title: str) -> Panel:
    """A panel showing an RGB image as it is (the model's predictions drawn on the image)."""
    return Panel('image', title, (), (), dict(image=image))


def panel_summary(panels: Sequence[Panel]) -> List[dict]:
    """What each panel shows, for a JSON file next to a figure."""
    summary = []
    for p in panels:
        entry = dict(title=p.title, style=p.style, modules=list(p.modules), maps=list(p.maps))
        if 'image' in p.data:
            entry['image_shape'] = list(p.data['image'].shape)
        for key in ('value_range', 'true_range', 'flat', 'scales'):
            if key in p.data:
                value = p.data[key]
                entry[key] = list(value) if isinstance(value, tuple) else value
        summary.append(entry)
    return summary


def module_names(panels: Sequence[Panel]) -> List[str]:
    """The modules a figure shows, in order of first appearance."""
    seen = OrderedDict()
    for panel in panels:
        for name in panel.modules:
            seen.setdefault(name, None)
    return list(seen)
