"""``plugins`` as ``--cfg-options`` makes it: a dict keyed '0', '1', ... reads as the list."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope

from mmattn import SE, PluginResNet
from mmattn.models.utils.plugins import as_plugin_list
from .toy_plugins import Shift, mim_config

SE2 = dict(cfg=dict(type='SE'), position='after_conv2', stages=(False, False, True, True))
SHIFT1 = dict(cfg=dict(type=Shift), position='after_conv1')


def test_digit_keys_are_the_list_in_order():
    keyed = ConfigDict({'1': SHIFT1, '0': SE2})
    assert as_plugin_list('X', keyed) == [SE2, SHIFT1]
    assert as_plugin_list('X', None) == [] and as_plugin_list('X', (SE2, )) == [SE2]
    torch.manual_seed(0)
    from_dict = PluginResNet(depth=18, base_channels=8, plugins=keyed)
    torch.manual_seed(0)
    from_list = PluginResNet(depth=18, base_channels=8, plugins=[SE2, SHIFT1])
    from_list.load_state_dict(from_dict.state_dict())
    from_dict.eval()
    from_list.eval()
    x = torch.randn(1, 3, 32, 32)
    assert [n for n, _ in from_dict.named_modules()] == [n for n, _ in from_list.named_modules()]
    for a, b in zip(from_dict(x), from_list(x)):
        assert torch.equal(a, b)


def test_other_dicts_say_what_to_write():
    with pytest.raises(ValueError, match=r'PluginResNet: plugins has the entries \[0, 2\] '
                                         r'\(from --cfg-options model.backbone.plugins.N...=...\)'
                                         r': number them 0, 1, ... without gaps'):
        PluginResNet(depth=18, plugins={'0': SE2, '2': SE2})
    with pytest.raises(TypeError, match=r'PluginResNet: plugins must be a list of dicts, got '
                                        r"dict .*write plugins=\[dict\(cfg=dict\(type=...\), "
                                        r'position=...\)\], or on the command line --cfg-options '
                                        r'model.backbone.plugins.0.cfg.type=SE '
                                        r'.*or --attention SE'):
        PluginResNet(depth=18, plugins=SE2)


def test_cfg_options_alone_on_a_shipped_config_without_a_plugins_list():
    """mmdet's RetinaNet R-18 has no plugins list: --cfg-options makes one for PluginResNet."""
    from mmdet.registry import MODELS
    from mmengine.config import DictAction  # noqa: F401  (what the tools parse with)
    init_default_scope('mmdet')
    cfg = mim_config('mmdet', 'retinanet/retinanet_r18_fpn_1x_coco.py')
    cfg.merge_from_dict({'model.backbone.type': 'PluginResNet',
                         'model.backbone.plugins.0.cfg.type': 'SE',
                         'model.backbone.plugins.0.position': 'after_conv2',
                         'model.backbone.init_cfg': None})
    assert dict(cfg.model.backbone.plugins) == {'0': dict(cfg=dict(type='SE'),
                                                          position='after_conv2')}
    backbone = MODELS.build(cfg.model.backbone)
    assert sum(isinstance(m, SE) for m in backbone.modules()) == 8  # every block
    # mmdet's own ResNet cannot read that dict (nor take plugins at depth 18): why the README
    # says --cfg-options alone needs the PluginResNet type.
    cfg.model.backbone.type = 'ResNet'
    with pytest.raises((AssertionError, AttributeError, TypeError)):
        MODELS.build(cfg.model.backbone)


def test_mmdet_own_tools_form_in_a_fresh_interpreter():
    """What mmdet's tools/train.py does with --cfg-options, mmattn never imported first:
    custom_imports given there is not imported (mmengine imports a config's custom_imports
    in Config.fromfile, before options merge), the mmattn. prefix is."""
    from tests.conftest import run_fresh_python
    out = run_fresh_python('''
import argparse, importlib, sys
from pathlib import Path
from mmengine.config import Config, DictAction
import mmdet
parser = argparse.ArgumentParser()
parser.add_argument('--cfg-options', nargs='+', action=DictAction)
options = parser.parse_args(['--cfg-options', 'model.backbone.type=mmattn.PluginResNet',
    'model.backbone.plugins.0.cfg.type=mmattn.SE', 'model.backbone.plugins.0.position=after_conv2',
    'model.backbone.plugins.0.stages=(False,True,True,True)', 'model.backbone.init_cfg=None',
    'custom_imports.imports=[mmattn]']).cfg_options
path = Path(mmdet.__file__).parent / '.mim/configs/retinanet/retinanet_r18_fpn_1x_coco.py'
cfg = Config.fromfile(path)
cfg.merge_from_dict(options)
print('IMPORTED_BY_OPTIONS', 'mmattn' in sys.modules)
from mmengine.registry import init_default_scope
from mmdet.registry import MODELS
init_default_scope('mmdet')
backbone = MODELS.build(cfg.model.backbone)
print('BUILT', type(backbone).__name__,
      sum(type(m).__name__ == 'SE' for m in backbone.modules()))
''')
    assert 'IMPORTED_BY_OPTIONS False' in out
    assert 'BUILT PluginResNet 6' in out
