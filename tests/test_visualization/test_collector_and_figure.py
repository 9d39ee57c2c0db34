"""The collector (finding, selecting and naming modules; canonical layouts) and the figures
(geometry, panels, grid), on small models."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from mmattn import CBAM, SE, DualAttention
from mmattn.engine import AttentionVisHook
from mmattn.models.utils import MapSpec
from mmattn.visualization import (AttentionMapCollector, ImageGeometry, build_panels,
                                  find_attention_modules, query_index, render_figure, stage_of,
                                  to_canonical)


@pytest.mark.parametrize('layout,kind,shape,expected,axis', [
    ('BC11', 'channel', (2, 5, 1, 1), (2, 1, 5), ''),
    ('B1C', 'channel', (2, 1, 5), (2, 1, 5), ''),
    ('BMC11', 'channel', (2, 3, 5, 1, 1), (2, 3, 5), ''),
    ('B1HW', 'spatial', (2, 1, 4, 6), (2, 1, 4, 6), ''),
    ('BLHW', 'spatial', (2, 3, 4, 6), (2, 3, 4, 6), ''),
    ('BCH1', 'profile', (2, 5, 4, 1), (2, 5, 4), 'H'),
    ('B1HC', 'profile', (2, 1, 4, 5), (2, 5, 4), 'H'),
    ('BC1W', 'profile', (2, 5, 1, 6), (2, 5, 6), 'W'),
    ('BIJ', 'matrix', (2, 5, 5), (2, 1, 5, 5), ''),
    ('BSIJ', 'matrix', (2, 3, 5, 5), (2, 3, 5, 5), ''),
    ('BQHW', 'query', (2, 2, 4, 6), (2, 1, 2, 4, 6), ''),
    ('BSQHW', 'query', (2, 8, 2, 4, 6), (2, 8, 2, 4, 6), ''),
])
def test_canonical_layouts(layout, kind, shape, expected, axis):
    value = torch.randn(shape)
    canonical, got_axis = to_canonical(value, MapSpec('x', layout, kind))
    assert tuple(canonical.shape) == expected and got_axis == axis
    # Nothing is reordered within a dim: the values are the same multiset.
    assert torch.equal(canonical.flatten().sort().values, value.flatten().sort().values)


def test_canonical_profile_puts_channels_first():
    value = torch.arange(2 * 4 * 5.).view(2, 1, 4, 5)  # 'B1HC'
    canonical, _ = to_canonical(value, MapSpec('x', 'B1HC', 'profile'))
    assert torch.equal(canonical, value[:, 0].transpose(1, 2))


@pytest.mark.parametrize('layout,kind,shape', [
    ('BCH', 'spatial', (2, 3, 4)),       # no W
    ('BMNC', 'channel', (2, 2, 2, 5)),   # two series
    ('BC11', 'channel', (2, 5, 1)),      # layout longer than the tensor
    ('BCHW', 'nonsense', (2, 5, 4, 4)),  # unknown kind
])
def test_canonical_refuses_a_layout_that_does_not_fit(layout, kind, shape):
    with pytest.raises(ValueError, match='mmattn maps'):
        to_canonical(torch.randn(shape), MapSpec('x', layout, kind))


def test_query_index_picks_the_cell_and_clamps():
    index = query_index([(0.0, 0.0), (0.99, 0.99), (0.5, 0.25), (1.5, -1)], 4, 6)
    assert index.tolist() == [0, 3 * 6 + 5, 1 * 6 + 3, 5]


def test_geometry_crops_the_padding_and_keeps_the_aspect():
    # A 100x80 image resized to 200x160 in a 224x192 input; a map at stride 8: 28x24,
    # the image covers 25x20 cells of it. The padding cells hold 1e3 and must vanish.
    geometry = ImageGeometry.from_metainfo(dict(ori_shape=(100, 80), img_shape=(200, 160),
                                                batch_input_shape=(224, 192)))
    maps = torch.rand(2, 28, 24)
    maps[:, 25:] = 1e3
    maps[:, :, 20:] = 1e3
    drawn = geometry.to_image(maps)
    assert drawn.shape == (2, 100, 80) and drawn.max() <= 1
    torch.testing.assert_close(
        drawn, torch.nn.functional.interpolate(maps[None, :, :25, :20], size=(100, 80),
                                               mode='bilinear', align_corners=False)[0])
    # Pixel (39.5, 49.5) of the image -> (79+1, 99+1) of the input -> fractions.
    (u, v), = geometry.to_input([(39.5, 49.5)])
    assert (u, v) == pytest.approx((80 / 192, 100 / 224))
    # mmseg keeps no batch_input_shape: the pad shape, else the image itself.
    assert ImageGeometry.from_metainfo(
        dict(ori_shape=(10, 20), img_shape=(30, 60))).input_shape == (30, 60)


def test_stage_of():
    assert stage_of('backbone.layer3.2.cbam') == 3
    assert stage_of('neck.attentions.0.se') is None


def _resnet():
    from mmattn.models.backbones import PluginResNet
    return PluginResNet(depth=18, base_channels=8, stem_channels=8, plugins=[
        dict(cfg=dict(type='SE'), stages=(False, True, True, True), position='after_conv2'),
        dict(cfg=dict(type='CBAM'), stages=(False, False, False, True), position='after_conv2'),
        dict(cfg=dict(type='DualAttention'), stages=(False, False, False, True),
             position='after_conv1'),
    ]).eval()


def test_find_and_select_modules_by_place_type_and_stage():
    model = nn.ModuleDict(dict(backbone=_resnet()))
    every = find_attention_modules(model)
    assert list(every) == [
        'backbone.layer2.0.se', 'backbone.layer2.1.se', 'backbone.layer3.0.se',
        'backbone.layer3.1.se',
        'backbone.layer4.0.dual_attn.pam', 'backbone.layer4.0.dual_attn.cam',
        'backbone.layer4.0.se', 'backbone.layer4.0.cbam',
        'backbone.layer4.1.dual_attn.pam', 'backbone.layer4.1.dual_attn.cam',
        'backbone.layer4.1.se', 'backbone.layer4.1.cbam']
    assert list(find_attention_modules(model, modules=['CBAM'])) == [
        'backbone.layer4.0.cbam', 'backbone.layer4.1.cbam']
    # A type or a path of a module the maps sit in selects them too.
    assert list(find_attention_modules(model, modules=['DualAttention'])) == [
        'backbone.layer4.0.dual_attn.pam', 'backbone.layer4.0.dual_attn.cam',
        'backbone.layer4.1.dual_attn.pam', 'backbone.layer4.1.dual_attn.cam']
    assert list(find_attention_modules(model, modules=['backbone.layer4.1'])) == [
        name for name in every if name.startswith('backbone.layer4.1.')]
    assert list(find_attention_modules(model, stages=[2, 3])) == [
        name for name in every if '.layer2.' in name or '.layer3.' in name]
    assert find_attention_modules(model, modules=['SK']) == {}


def test_collector_names_maps_by_place_and_removes_its_hooks():
    model = nn.ModuleDict(dict(backbone=_resnet()))
    x = torch.randn(2, 3, 64, 48)
    with AttentionMapCollector(model, modules=['CBAM', 'SE'], stages=[4]) as collector:
        with torch.no_grad():
            model['backbone'](x)
    maps = collector.maps()
    assert list(maps) == [
        'backbone.layer4.0.se.channel_gate', 'backbone.layer4.0.cbam.channel_gate',
        'backbone.layer4.0.cbam.spatial_gate', 'backbone.layer4.1.se.channel_gate',
        'backbone.layer4.1.cbam.channel_gate', 'backbone.layer4.1.cbam.spatial_gate']
    assert maps['backbone.layer4.1.cbam.spatial_gate'].shape == (2, 1, 2, 2)
    # Outside the block the hooks are gone: nothing more is recorded.
    collector.clear()
    with torch.no_grad():
        model['backbone'](x)
    assert collector.records() == []
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks


def test_panels_cover_every_module_and_the_grid_renders():
    torch.manual_seed(0)
    se, cbam, dual = SE(16).eval(), CBAM(16).eval(), DualAttention(16).eval()
    model = nn.ModuleDict(dict(layer2=nn.ModuleDict({'0': nn.ModuleDict(dict(se=se))}),
                               cbam=cbam, dual=dual))
    x = torch.randn(1, 16, 8, 6)
    with AttentionMapCollector(model) as collector, torch.no_grad():
        cbam(dual(se(x)))
    geometry = ImageGeometry((40, 30), (32, 24), (32, 24))
    image = np.full((40, 30, 3), 128, np.uint8)
    panels, numbers = build_panels(collector.records(), 0, geometry, image, [(10, 20)],
                                   points_in_pixels=True)
    styles = [(p.title.split('\n')[0], p.style) for p in panels]
    # Module order, the channel gates last, grouped by stage (a module outside the
    # stages is its own group).
    assert styles == [('cbam', 'overlay'), ('dual.pam', 'overlay'), ('dual.cam', 'heatmap'),
                      ('layer2', 'bars'), ('cbam', 'bars')]
    shown = {m for p in panels for m in p.modules}
    assert shown == {'layer2.0.se', 'cbam', 'dual.pam', 'dual.cam'}
    assert numbers['drawn/cbam.spatial_gate'].shape == (1, 40, 30)
    assert numbers['map/dual.pam.query_attention'].shape == (1, 1, 8, 6)  # [S, Q, h, w]
    (query, ) = [p for p in panels if p.modules == ('dual.pam', )]
    assert query.data['points'] == [(10, 20)] and query.data['image'].shape == (40, 30, 3)
    figure = render_figure(panels, ncols=3, panel_size=(2.0, 2.0), dpi=50, title='t')
    # Two rows and three columns of 2 x 2 inches at 50 dpi, and 0.35 inches of title.
    assert figure.dtype == np.uint8 and figure.shape == (int(2 * 100 + 0.35 * 50), 300, 3)


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match='AttentionVisHook: interval'):
        AttentionVisHook(interval=0)
    with pytest.raises(ValueError, match='AttentionVisHook: points'):
        AttentionVisHook(points=[(1.5, 0.5)])


def test_hook_picks_every_nth_validation_image_across_batches():
    from types import SimpleNamespace
    hook = AttentionVisHook(interval=3)
    runner = SimpleNamespace(model=nn.Linear(1, 1))  # no maps: nothing to draw
    chosen = []
    for epoch in range(2):  # the count starts again with each validation run
        hook.before_val_epoch(runner)
        for i, n in enumerate((2, 2, 2, 1)):
            batch = dict(data_samples=[None] * n)
            hook.before_val_iter(runner, i, batch)
            chosen.append(list(hook._chosen))
            hook.after_val_iter(runner, i, batch, outputs=[None] * n)
    assert chosen == [[0], [1], [], [0]] * 2  # images 0, 3 and 6 of 7
