"""A checkpoint whose weights do not fit the model's attention modules is refused."""
import pytest
from mmengine.registry import MODELS, init_default_scope

from mmattn.models.utils import (CheckpointMismatchError, attention_module_paths,
                                 check_checkpoint_fits)


def _resnet(*plugins):
    init_default_scope('mmdet')
    return MODELS.build(dict(type='PluginResNet', depth=18, base_channels=8,
                             plugins=[dict(cfg=cfg, position='after_conv2') for cfg in plugins]))


def test_the_outermost_modules_are_listed_by_path():
    model = _resnet(dict(type='SE'), dict(type='DualAttention', postfix=2))
    paths = attention_module_paths(model)
    assert paths['layer1.0.se'] == 'SE' and paths['layer1.0.dual_attn2'] == 'DualAttention'
    assert not any('.pam' in p for p in paths)  # DualAttention's own PAM is inside it


def test_matching_weights_pass():
    model = _resnet(dict(type='SE'))
    check_checkpoint_fits(model, model.state_dict(), 'tool')
    check_checkpoint_fits(model, {f'module.{k}': v for k, v in model.state_dict().items()},
                          'tool')


def test_another_module_is_refused_naming_both_sides_and_the_fix():
    model = _resnet(dict(type='CBAM'))
    state = _resnet(dict(type='SE')).state_dict()
    with pytest.raises(CheckpointMismatchError) as info:
        check_checkpoint_fits(model, state, 'tools/test.py', 'iter_2.pth', 'SE:after_conv2')
    text = str(info.value)
    assert text.startswith("tools/test.py: iter_2.pth does not fit the config's model")
    assert 'the model has CBAM at layer1.0.cbam' in text and 'and 5 more' in text
    assert 'weights of modules the model does not have, at layer1.0.se' in text
    assert 'it was trained with --attention SE:after_conv2' in text


def test_no_weights_for_the_modules_and_other_shapes_are_refused():
    model = _resnet(dict(type='SE'))
    bare = _resnet().state_dict()
    with pytest.raises(CheckpointMismatchError, match='the model has SE at layer1.0.se'):
        check_checkpoint_fits(model, bare, 'tool')
    other = _resnet(dict(type='SE', reduction=2)).state_dict()
    with pytest.raises(CheckpointMismatchError, match='have other shapes'):
        check_checkpoint_fits(model, other, 'tool')


def test_a_checkpoint_with_modules_the_plain_model_lacks_is_refused():
    with pytest.raises(CheckpointMismatchError, match='modules the model does not have'):
        check_checkpoint_fits(_resnet(), _resnet(dict(type='ECA')).state_dict(), 'tool')
