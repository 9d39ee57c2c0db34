"""AttentionNeck: modules on every output level of any neck, or on the inputs in a neck list."""
import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope

from mmattn import SE, AttentionNeck, IdentityInit
from ..test_utils.toy_plugins import Scale, Shift, mim_config, quiet_init

FPN = dict(type='FPN', in_channels=[8, 16, 32], out_channels=8, num_outs=5,
           add_extra_convs='on_input')
PAFPN = dict(type='PAFPN', in_channels=[8, 16, 32], out_channels=8, num_outs=4)
CHANNEL_MAPPER = dict(type='ChannelMapper', in_channels=[8, 16, 32], out_channels=8)


@pytest.fixture(autouse=True)
def _mmdet_scope():
    init_default_scope('mmdet')


def _feats(batch=2):
    return [torch.randn(batch, c, *s) for c, s in zip([8, 16, 32], [(13, 15), (7, 8), (4, 4)])]


def _build(**kwargs):
    from mmdet.registry import MODELS
    return MODELS.build(dict(type='AttentionNeck', **kwargs))


def _plain(neck_cfg, wrapped):
    from mmdet.registry import MODELS
    plain = MODELS.build(neck_cfg)
    plain.load_state_dict(wrapped.neck.state_dict())
    return plain


@pytest.mark.parametrize('neck_cfg, levels, given', [
    (FPN, 5, {}), (PAFPN, 4, {}),
    # ChannelMapper keeps no out_channels/num_outs attributes: they are given.
    (CHANNEL_MAPPER, 3, dict(channels=8, num_levels=3))])
def test_every_level_of_any_neck_in_order(neck_cfg, levels, given):
    m = _build(neck=neck_cfg, attention=[dict(type=Scale, value=2.0), dict(type=Shift)],
               **given)
    assert m.channels == [8] * levels and m.num_levels == levels  # read from the neck
    plain = _plain(neck_cfg, m)
    feats = _feats()
    with torch.no_grad():
        outs, ref = m(feats), plain(feats)
    assert len(outs) == levels
    for o, r in zip(outs, ref):
        torch.testing.assert_close(o, r * 2.0 + 1.0)
    # one module set per level by default
    assert len({id(a.scale) for a in m.attentions}) == levels


def test_identity_init_equals_the_bare_neck():
    attention = [dict(type='SE', reduction=2), dict(type=Shift, value=5.0)]
    m = quiet_init(_build(neck=FPN, attention=attention, identity_init=True))
    assert all(x.scale.item() == 0 for x in m.modules() if isinstance(x, IdentityInit))
    plain = _plain(FPN, m)
    feats = _feats()
    with torch.no_grad():
        for o, r in zip(m(feats), plain(feats)):
            assert torch.equal(o, r)


def test_share_and_levels():
    m = _build(neck=FPN, attention=dict(type='SE', reduction=2), share=True)
    assert len({id(a) for a in m.attentions}) == 1
    assert sum(p.numel() for p in m.attentions.parameters()) == \
        sum(p.numel() for p in SE(8, reduction=2).parameters())
    m = _build(neck=FPN, attention=dict(type=Shift), levels=(0, 4))
    plain = _plain(FPN, m)
    feats = _feats()
    with torch.no_grad():
        for i, (o, r) in enumerate(zip(m(feats), plain(feats))):
            torch.testing.assert_close(o, r + 1.0 if i in (0, 4) else r)
    assert isinstance(m.attentions[2], nn.Identity)


def test_without_a_neck_on_the_inputs():
    m = _build(channels=[8, 16, 32], attention=dict(type=Shift, value=2.0))
    feats = _feats(batch=3)
    for o, f in zip(m(feats), feats):
        torch.testing.assert_close(o, f + 2.0)
    m = _build(channels=4, num_levels=2, attention=dict(type='SE', reduction=2))
    assert [a.se.in_channels for a in m.attentions] == [4, 4]


def test_errors():
    with pytest.raises(ValueError, match='AttentionNeck: channels is needed .*: without a neck'):
        _build(attention=dict(type='SE'))
    with pytest.raises(ValueError, match='ChannelMapper has no out_channels to read it from'):
        _build(neck=CHANNEL_MAPPER, attention=dict(type='SE'))
    with pytest.raises(ValueError, match='AttentionNeck: channels=8 is one int: num_levels'):
        _build(channels=8, attention=dict(type='SE'))
    with pytest.raises(ValueError, match=r'AttentionNeck: share=True needs equal channels'):
        _build(channels=[8, 16], attention=dict(type='SE'), share=True)
    with pytest.raises(ValueError, match=r'AttentionNeck: level 5 in levels=\[5\] must be in '
                                         r'\[0, 5\)'):
        _build(neck=FPN, attention=dict(type='SE'), levels=[5])
    with pytest.raises(ValueError, match=r'AttentionNeck: channels=\[8, 8\] must have '
                                         r'num_levels=3 entries'):
        _build(channels=[8, 8], num_levels=3, attention=dict(type='SE'))
    with pytest.raises(TypeError, match='AttentionNeck: attention must be a config dict'):
        _build(neck=FPN, attention='SE')
    m = _build(channels=[8, 16, 32], attention=dict(type='SE'))
    with pytest.raises(ValueError, match='AttentionNeck: expected 3 levels, got 2'):
        m(_feats()[:2])
    with pytest.raises(ValueError, match=r'AttentionNeck: level 1 must have shape '
                                         r'\(B, 16, H, W\), got \(2, 8, 7, 8\)'):
        m([_feats()[0], torch.randn(2, 8, 7, 8), _feats()[2]])


@pytest.mark.integration
def test_retinanet_with_attention_neck_trains_one_step():
    from mmdet.registry import MODELS

    from tests.test_integration.test_mmdet_detector import _synthetic_batch
    from ..test_backbones.test_plugin_resnet import _one_train_step
    cfg = mim_config('mmdet', 'retinanet/retinanet_r50_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None
    fpn = cfg.model.neck
    # The wrapper around FPN, and the list form after it: both in one detector.
    cfg.model.neck = [
        dict(type='AttentionNeck', neck=fpn, attention=dict(type='SE'), identity_init=True),
        dict(type='AttentionNeck', channels=256, num_levels=5,
             attention=dict(type='SE', postfix=2), levels=(0, 1, 2))]
    model = quiet_init(MODELS.build(cfg.model))
    first, second = model.neck
    assert isinstance(first, AttentionNeck) and isinstance(second, AttentionNeck)
    assert first.num_levels == 5 and isinstance(first.attentions[4].se, IdentityInit)
    assert isinstance(second.attentions[3], nn.Identity)
    weight = second.attentions[0].se2.fc1.weight
    before = weight.detach().clone()
    log_vars = _one_train_step(model, _synthetic_batch())
    assert log_vars['loss'] > 0
    assert not torch.equal(weight.detach(), before)
    assert first.attentions[0].se.scale.item() != 0
