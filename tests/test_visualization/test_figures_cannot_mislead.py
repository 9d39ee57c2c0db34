"""Figures that cannot mislead: flat maps drawn flat with their one value, colour bars and
axes with the digits their range needs, and the learned ``s`` of every module started as
the identity, at every insertion point and for every module the registry lists."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from mmattn import CBAM, SE, list_attention_modules
from mmattn.models.utils import declared_maps
from mmattn.models.utils.identity_init import IdentityInit
from mmattn.visualization import AttentionMapCollector, ImageGeometry, build_panels
from mmattn.visualization.figure import (FLAT_RANGE, colour_bar_ticks, draw_figure, flat_value,
                                         panel_summary, render_figure, value_digits)

MODULES = list_attention_modules()
GEOMETRY = ImageGeometry((24, 20), (24, 20), (24, 20))
IMAGE = np.full((24, 20, 3), 100, np.uint8)


def _panels(model, x, forward=None):
    with AttentionMapCollector(model) as collector, torch.no_grad():
        (forward or model)(x)
    return build_panels(collector.records(), 0, GEOMETRY, IMAGE)


def _first_channels(cls):
    for c in (8, 16, 32, 64):
        try:
            return cls(c), c
        except ValueError:
            continue
    raise AssertionError(f'{cls.__name__} takes none of 8, 16, 32, 64 channels')


# ------------------------------------------------------------------------- the range rules

def test_the_issue_case_is_flat():
    # A CBAM checkpoint after 2 iterations: every value of its maps in 0.4999998-0.5000005.
    assert flat_value(0.4999998, 0.5000005) == pytest.approx(0.50000015)
    assert flat_value(0.0, 0.0) == 0.0
    assert flat_value(-3.0, -3.0) == -3.0
    # Real structure, however narrow the band, is drawn.
    assert flat_value(0.4995, 0.5005) is None
    assert flat_value(1e-6, 3e-6) is None  # a softmax over many positions
    # The threshold is relative to the values: 0.5 +- 2.5e-5 is flat, 0.5 +- 5e-5 not.
    assert flat_value(0.5 - 0.49 * FLAT_RANGE / 2, 0.5 + 0.49 * FLAT_RANGE / 2) is not None
    assert flat_value(0.5 - FLAT_RANGE / 2, 0.5 + FLAT_RANGE / 2) is None


@pytest.mark.parametrize('low,high', [(0.4999998, 0.5000005), (0.4995, 0.5005), (0, 1),
                                      (0.49, 0.51), (-2e-3, 3e-3), (1e-6, 3e-6),
                                      (123.4, 123.5), (-1, -0.9999), (0.5, 0.5000001)])
def test_colour_bar_ticks_tell_the_ends_apart(low, high):
    ticks, labels = colour_bar_ticks(low, high)
    assert ticks == [low, (low + high) / 2, high]
    assert len(set(labels)) == 3, labels  # never 0.5, 0.5, 0.5
    for tick, label in zip(ticks, labels):
        # Each reads as its value to within a fifth of the tick spacing.
        assert abs(float(label) - tick) <= 0.2 * (high - low) / 2, (label, tick)
    assert value_digits(0, 1) == 3


# ------------------------------------------------------------------------------- flat maps

def _near_constant_cbam(noise):
    """A CBAM whose gates are 0.5 plus about ``noise``, as after a few iterations from a
    start near zero: every weight of that size, the spatial BN's scale 1."""
    torch.manual_seed(0)
    m = CBAM(16).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * noise)
        m.spatial_norm.weight.fill_(1)
    return m


def _cbam_gate_range(m, x):
    with AttentionMapCollector(m) as collector, torch.no_grad():
        m(x)
    maps = collector.maps()
    return {name: (float(v.min()), float(v.max())) for name, v in maps.items()}


def test_a_near_constant_cbam_is_drawn_flat_with_its_value():
    m = _near_constant_cbam(1e-6)
    x = torch.randn(1, 16, 6, 5)
    ranges = _cbam_gate_range(m, x)
    assert all(0.499 < lo <= hi < 0.501 and hi - lo < 1e-5 for lo, hi in ranges.values()), \
        ranges
    panels, numbers = _panels(m, x)
    styles = {p.style: p for p in panels}
    assert set(styles) == {'overlay', 'bars'}
    for panel in panels:
        assert panel.data['flat'] == pytest.approx(0.5, abs=1e-5), panel.title
    # The overlay is the image itself: no colour-scaled noise.
    assert np.array_equal(styles['overlay'].data['image'], IMAGE)
    summary = panel_summary(panels)
    assert all(s['flat'] == pytest.approx(0.5, abs=1e-5) for s in summary)
    # The numbers behind the figure are still the true values.
    spatial = numbers['map/spatial_gate']
    assert spatial.min() < spatial.max()
    # Drawn: no colour bar for a flat overlay, and the label shows the value.
    fig = draw_figure(panels, ncols=2)
    fig.canvas.draw()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith('flat: 0.5') for t in texts), texts
    assert len(fig.axes) == 2  # two panels, no colour bar axes


def test_a_narrow_but_real_map_keeps_its_colours_and_a_bar_with_the_digits():
    m = _near_constant_cbam(3e-3)
    x = torch.randn(1, 16, 6, 5)
    panels, _ = _panels(m, x)
    (overlay, ) = [p for p in panels if p.style == 'overlay']
    low, high = overlay.data['value_range']
    assert overlay.data['flat'] is None and high - low < 0.05
    assert not np.array_equal(overlay.data['image'], IMAGE)
    fig = draw_figure(panels, ncols=2)
    fig.canvas.draw()
    (bar, ) = [ax for ax in fig.axes if ax.get_label().startswith('colour bar')]
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert labels == colour_bar_ticks(low, high)[1] and len(set(labels)) == 3, labels


def test_flat_heat_maps_and_bars_render():
    from mmattn import DANetCAM
    cam = DANetCAM(8).eval()
    se = SE(16).eval()
    with torch.no_grad():
        for p in se.parameters():
            p.zero_()  # every gate sigmoid(0) = 0.5 exactly
    model = nn.ModuleDict(dict(cam=cam, se=se))
    x8, x16 = torch.zeros(1, 8, 4, 4), torch.randn(1, 16, 4, 4)  # CAM of zeros: uniform
    with AttentionMapCollector(model) as collector, torch.no_grad():
        cam(x8)
        se(x16)
    panels, _ = build_panels(collector.records(), 0, GEOMETRY, IMAGE)
    assert [(p.style, p.data['flat']) for p in panels] == [('heatmap', 1 / 8), ('bars', 0.5)]
    image = render_figure(panels, ncols=2)
    assert image.dtype == np.uint8 and image.ndim == 3


def test_a_map_without_finite_values_is_not_called_flat():
    m = CBAM(16).eval()
    panels, _ = _panels(m, torch.full((1, 16, 4, 4), float('nan')))
    assert panels and all(p.data['flat'] is None for p in panels)
    assert render_figure(panels).ndim == 3


# ----------------------------------------------------------------- the identity start's s

def _wrapped(name, scale):
    module, c = _first_channels(MODULES[name])
    torch.manual_seed(0)
    wrapper = IdentityInit(c, module=module).eval()
    with torch.no_grad():
        wrapper.scale.fill_(scale)
    return wrapper, c


@pytest.mark.parametrize('name', sorted(n for n in MODULES if declared_maps(MODULES[n])
                                        or n == 'DualAttention'))
def test_every_module_inside_an_identity_start_shows_its_s(name):
    wrapper, c = _wrapped(name, 0.0123)
    model = nn.ModuleDict(dict(layer2=nn.ModuleDict({'0': nn.ModuleDict(dict(m=wrapper))})))
    panels, numbers = _panels(model, torch.randn(1, c, 6, 5), forward=wrapper)
    assert panels
    for panel in panels:
        if panel.style == 'bars':
            # In the label of its series (the legend is drawn even for one series).
            assert panel.data['legend']
            assert all('s=0.0123' in key for key in panel.data['series']), panel.data['series']
        else:
            assert 's=0.0123' in panel.title.split('\n')[1], panel.title
        assert panel.data['scales'] and all(
            s == pytest.approx(0.0123) for s in panel.data['scales'].values())
    assert any(key.startswith('scale/layer2.0.m.module') for key in numbers), list(numbers)
    render_figure(panels)


def test_s_zero_says_the_module_is_not_used_yet():
    wrapper, c = _wrapped('CBAM', 0.0)
    panels, _ = _panels(wrapper, torch.randn(1, c, 6, 5))
    assert all('s=0 (not used yet)' in (p.title + ' '.join(p.data.get('series', {})))
               for p in panels)


def test_modules_outside_an_identity_start_show_no_s():
    panels, numbers = _panels(CBAM(16).eval(), torch.randn(1, 16, 6, 5))
    assert all('s=' not in p.title and not p.data['scales'] for p in panels)
    assert not any(key.startswith('scale/') for key in numbers)


def _insertion_points():
    """The three ways mmattn starts a module as the identity, and mmdet's ResNet with an
    IdentityInit plugin: (label, model, input)."""
    from mmdet.models.backbones import ResNet

    from mmattn.models.backbones import AttentionBackbone, PluginResNet
    from mmattn.models.necks import AttentionNeck
    plugin = dict(cfg=dict(type='CBAM'), position='after_conv2',
                  stages=(False, False, False, True))
    resnet = dict(depth=18, base_channels=8, stem_channels=8, num_stages=4,
                  out_indices=(3, ))
    yield 'PluginResNet', PluginResNet(**resnet, plugins=[dict(plugin, identity_init=True)]), \
        torch.randn(1, 3, 64, 64)
    yield 'mmdet ResNet + IdentityInit plugin', ResNet(
        depth=50, base_channels=8, stem_channels=8, out_indices=(3, ), plugins=[
            dict(cfg=dict(type='IdentityInit', module=dict(type='CBAM')),
                 position='after_conv2', stages=(False, False, False, True))]), \
        torch.randn(1, 3, 64, 64)
    yield 'AttentionBackbone', AttentionBackbone(
        backbone=dict(type='mmdet.ResNet', **resnet), attentions=dict(type='CBAM'),
        identity_init=True, in_channels=[64]), torch.randn(1, 3, 64, 64)
    neck = AttentionNeck(channels=16, num_levels=2, attention=dict(type='CBAM'),
                         identity_init=True)
    yield 'AttentionNeck', neck, (torch.randn(1, 16, 8, 8), torch.randn(1, 16, 4, 4))


@pytest.mark.parametrize('index', range(4))
def test_every_identity_start_shows_s(index):
    label, model, x = list(_insertion_points())[index]
    wrappers = [m for m in model.modules() if isinstance(m, IdentityInit)]
    assert wrappers, label
    with torch.no_grad():
        for i, w in enumerate(wrappers):
            w.scale.fill_(0.25 + 0.125 * i)
    model.eval()
    with AttentionMapCollector(model) as collector, torch.no_grad():
        model(x)
    records = collector.records()
    assert records, label
    for record in records:
        assert record.identity_scale in {0.25 + 0.125 * i for i in range(len(wrappers))}, \
            (label, record.name)
    panels, _ = build_panels(records, 0, ImageGeometry((64, 64), (64, 64), (64, 64)),
                             np.zeros((64, 64, 3), np.uint8))
    assert all(p.data['scales'] for p in panels), label
