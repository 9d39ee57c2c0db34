"""A type no registry knows: every mmattn builder says which, what is close, and the fix."""
import pytest
from mmengine.registry import DefaultScope, init_default_scope

from mmattn import (ASFF, AttentionBackbone, AttentionNeck, IdentityInit, PluginResNet,
                    PluginResNetV1c, PluginResNeXt)
from mmattn.models.utils import UnknownTypeError, lookup_type
from mmattn.models.utils.lookup import close_names
from mmattn.registry import ROOT_MODELS

R18 = dict(type='PluginResNet', depth=18, base_channels=8)
FPN = dict(type='FPN', in_channels=[8, 16], out_channels=8, num_outs=2)

# (builder, its arguments with a misspelt type, what the message names, closest name)
CASES = {
    'PluginResNet plugin': (PluginResNet, dict(
        depth=18, plugins=[dict(cfg=dict(type='CBMA'), position='after_conv2')]),
        "PluginResNet: plugin type 'CBMA'", 'CBAM'),
    'PluginResNeXt plugin': (PluginResNeXt, dict(
        depth=50, groups=4, plugins=[dict(cfg=dict(type='CBMA'), position='after_conv2')]),
        "PluginResNeXt: plugin type 'CBMA'", 'CBAM'),
    'PluginResNetV1c plugin': (PluginResNetV1c, dict(
        depth=18, plugins=[dict(cfg=dict(type='SEE'), position='after_conv2')]),
        "PluginResNetV1c: plugin type 'SEE'", 'SE'),
    'AttentionBackbone backbone': (AttentionBackbone, dict(
        backbone=dict(type='PluginResnet', depth=18), in_channels=[64, 128, 256, 512],
        attentions=dict(type='SE')), "AttentionBackbone: backbone type 'PluginResnet'",
        'PluginResNet'),
    'AttentionBackbone attention': (AttentionBackbone, dict(
        backbone=R18, in_channels=[8, 16, 32, 64],
        attentions=[dict(type='ECA'), dict(type='Coordattention')]),
        "AttentionBackbone: plugin type 'Coordattention'", 'CoordAttention'),
    'AttentionNeck neck': (AttentionNeck, dict(neck=dict(FPN, type='FPNN'),
                                               attention=dict(type='SE')),
                           "AttentionNeck: neck type 'FPNN'", 'FPN'),
    'AttentionNeck attention': (AttentionNeck, dict(neck=FPN, attention=dict(type='mmattn.SK2')),
                                "AttentionNeck: plugin type 'mmattn.SK2'", 'mmattn.SK'),
    'IdentityInit module': (IdentityInit, dict(in_channels=8, module=dict(type='TripletAtention')),
                            "IdentityInit: module type 'TripletAtention'", 'TripletAttention'),
    'ASFF norm_cfg': (ASFF, dict(in_channels=[8, 8], out_channels=8, norm_cfg=dict(type='BNN')),
                      "ASFF: norm_cfg type 'BNN'", 'BN'),
    'ASFF act_cfg': (ASFF, dict(in_channels=[8, 8], out_channels=8,
                                act_cfg=dict(type='LeakyRelu')),
                     "ASFF: act_cfg type 'LeakyRelu'", 'LeakyReLU'),
}


# In the mmengine scope only the root registry is searched: mmdet's FPN is not there.
@pytest.mark.parametrize('case, scope', [(c, s) for c in CASES for s in ('mmengine', 'mmdet')
                                         if s == 'mmdet' or 'FPN' not in str(CASES[c][1])])
def test_a_misspelt_type_is_named_with_the_closest_names_and_the_fix(case, scope):
    builder, kwargs, owner_and_type, closest = CASES[case]
    with DefaultScope.overwrite_default_scope(scope):
        with pytest.raises(UnknownTypeError) as info:
            builder(**kwargs)
    message = str(info.value)
    assert message.startswith(owner_and_type)
    assert f'closest registered names: {closest!r}' in message
    assert "custom_imports = dict(imports=['mmattn'], allow_failed_imports=False)" in message
    assert "type='mmattn." in message
    # A user error (ValueError) that code catching mmengine's KeyError still catches.
    assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)


def test_the_scope_registry_is_searched_and_named():
    """mmdet's names (not in the root) are found and suggested inside the mmdet scope."""
    with DefaultScope.overwrite_default_scope('mmengine'):
        with pytest.raises(UnknownTypeError, match="closest registered names: 'PluginResNet'"):
            AttentionBackbone(backbone=dict(type='ResNett'), in_channels=[8], attentions=[])
    with DefaultScope.overwrite_default_scope('mmdet'):
        with pytest.raises(UnknownTypeError, match="closest registered names: 'ResNet'"):
            AttentionBackbone(backbone=dict(type='ResNett'), in_channels=[8], attentions=[])
        assert lookup_type('x', dict(type='RetinaNet'), 'model').__name__ == 'RetinaNet'
        with pytest.raises(UnknownTypeError, match=r"model type 'RetinaNett' is not registered "
                                                   r"\(looked up in the mmdet/mmengine model "
                                                   r"registries\); closest registered names: "
                                                   r"'RetinaNet'"):
            lookup_type('x', dict(type='RetinaNett'), 'model')
    # The cfg's own _scope_ wins, as in mmengine's build.
    assert lookup_type('x', dict(type='EncoderDecoder', _scope_='mmseg'), 'model').__module__ \
        .startswith('mmseg.')


def test_through_a_detector_build_the_sentence_reaches_the_user():
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    backbone = dict(type='PluginResNet', depth=18, base_channels=8,
                    plugins=[dict(cfg=dict(type='CBMA'), position='after_conv1')])
    cfg = dict(type='RetinaNet', backbone=backbone,
               neck=dict(type='FPN', in_channels=[8, 16, 32, 64], out_channels=8, num_outs=5),
               bbox_head=dict(type='RetinaHead', num_classes=2, in_channels=8,
                              anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                                    scales_per_octave=3, ratios=[1.0],
                                                    strides=[8, 16, 32, 64, 128]),
                              bbox_coder=dict(type='DeltaXYWHBBoxCoder')))
    with pytest.raises(KeyError, match="PluginResNet: plugin type 'CBMA' is not registered"):
        MODELS.build(cfg)


def test_missing_and_wrong_types():
    with pytest.raises(UnknownTypeError, match=r"IdentityInit: the module config "
                                               r"\{'reduction': 4, 'in_channels': 8\} has no type"):
        IdentityInit(in_channels=8, module=dict(reduction=4))
    with pytest.raises(TypeError, match='the plugin type must be a registered name or a class, '
                                        'got 3'):
        lookup_type('PluginResNet', dict(type=3), 'plugin')
    assert lookup_type('x', dict(type=PluginResNet)) is PluginResNet


def test_close_names_fold_case_and_rank_by_similarity():
    names = ROOT_MODELS.module_dict
    assert close_names('cbam', names)[0] == 'CBAM'
    assert close_names('DanetPam', names)[0] == 'DANetPAM'
    assert close_names('QQQQQQQQ', names) == []
