"""The one order of every tool's config: --attention, then --cfg-options on the result;
a checkpoint's record brings its attention back into a config without attention."""
import pytest
from mmengine.config import Config

from mmattn.config import (RECORD_KEY, compose_config, record_of, restore_attention,
                           starts_as_identity, strip_attention)
from tests.conftest import CONFIG_DIR

ZOO_CBAM = CONFIG_DIR / 'cbam' / 'retinanet_r50-cbam_fpn_1x_coco.py'


def _base(tmp_path):
    stub = tmp_path / 'base.py'
    stub.write_text("_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n")
    return Config.fromfile(str(stub))


def test_cfg_options_apply_to_the_derived_model(tmp_path):
    cfg = compose_config(_base(tmp_path), ['CBAM'],
                         cfg_options={'model.backbone.plugins.0.cfg.reduction': 4})
    (plugin, ) = cfg.model.backbone.plugins
    assert plugin.cfg == dict(type='CBAM', reduction=4)
    assert record_of(cfg) == dict(specs=['CBAM'], identity_init=False)


def test_a_key_the_derived_model_lacks_is_refused_with_a_sentence(tmp_path):
    with pytest.raises(ValueError, match=r'tools/train.py: --cfg-options '
                       r'model.backbone.plugins.3.position=after_conv1 cannot be applied to '
                       r'the model --attention made in the config: .*--cfg-options apply '
                       r'after --attention'):
        compose_config(_base(tmp_path), ['CBAM'],
                       cfg_options={'model.backbone.plugins.3.position': 'after_conv1'},
                       tool='tools/train.py')


def test_a_zoo_base_keeps_its_identity_start_and_its_overrides():
    cfg = Config.fromfile(str(ZOO_CBAM))
    assert starts_as_identity(cfg.model)
    compose_config(cfg, ['SE'], cfg_options={'model.backbone.plugins.0.cfg.reduction': 8})
    (plugin, ) = cfg.model.backbone.plugins
    assert plugin.cfg == dict(type='SE', reduction=8) and plugin.identity_init is True
    assert cfg.model.backbone.type == 'PluginResNet'


def test_a_plugin_of_another_shape_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match='model.backbone.plugins must be a list of dicts'):
        strip_attention(dict(backbone=dict(type='ResNet', plugins=['SE'])))
    # mmengine's DictAction keyed form is read as the list
    cut, removed = strip_attention(dict(backbone=dict(
        type='ResNet', plugins={'0': dict(cfg=dict(type='SCSA'), position='after_conv2')})))
    assert removed == ['SCSA plugin'] and cut['backbone']['plugins'] is None


def test_a_recorded_attention_comes_back_into_a_config_without_attention(tmp_path):
    meta = {RECORD_KEY: dict(specs=['SE:after_conv3:0011'], identity_init=True)}
    cfg = _base(tmp_path)
    assert restore_attention(cfg, meta, 'tools/test.py') == ['SE:after_conv3:0011']
    (plugin, ) = cfg.model.backbone.plugins
    assert plugin.cfg == dict(type='SE') and plugin.identity_init is True
    assert plugin.stages == (False, False, True, True)
    # Given --attention, a config with attention of its own, or no record: nothing happens.
    assert restore_attention(_base(tmp_path), meta, 'tool', given=['CBAM']) is None
    assert restore_attention(cfg, meta, 'tool') is None
    assert restore_attention(_base(tmp_path), {}, 'tool') is None
