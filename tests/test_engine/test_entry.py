"""mmattn.engine: how the tools' arguments land in a config; bfloat16 autocast on CPU."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from mmattn.engine import AutocastOptimWrapper, load_config, setup_test_cfg, setup_train_cfg
from tests.conftest import CONFIG_DIR

DET = str(CONFIG_DIR / 'demo' / 'retinanet_r18-se_fpn_300i_toy-coco.py')
SEG = str(CONFIG_DIR / 'demo' / 'fcn_r18-se-d8-gn_toy-ade-128.py')


def test_work_dir_priority_command_line_then_config_then_config_name():
    cfg = setup_train_cfg(load_config(DET), DET, work_dir='/tmp/wd')
    assert cfg.work_dir == '/tmp/wd'
    cfg = load_config(DET, dict(work_dir='/tmp/from_cfg'))
    assert setup_train_cfg(cfg, DET).work_dir == '/tmp/from_cfg'
    cfg = setup_train_cfg(load_config(DET), DET)
    assert cfg.work_dir == './work_dirs/retinanet_r18-se_fpn_300i_toy-coco'


def test_cfg_options_and_resume():
    cfg = load_config(SEG, {'train_cfg.max_iters': 7})
    assert cfg.train_cfg.max_iters == 7
    cfg = setup_train_cfg(cfg, SEG, resume='auto')
    assert cfg.resume is True and cfg.load_from is None
    cfg = setup_train_cfg(load_config(SEG), SEG, resume='a/iter_2.pth')
    assert cfg.resume is True and cfg.load_from == 'a/iter_2.pth'
    cfg = setup_train_cfg(load_config(SEG), SEG)
    assert cfg.resume is False


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU rules')
@pytest.mark.parametrize('config', [DET, SEG])
def test_amp_on_cpu_is_bfloat16_autocast_keeping_the_optimizer(config):
    before = load_config(config).optim_wrapper
    cfg = setup_train_cfg(load_config(config), config, amp=True)
    assert cfg.optim_wrapper.type == 'AutocastOptimWrapper'
    assert cfg.optim_wrapper.dtype == 'bfloat16'
    assert cfg.optim_wrapper.optimizer == before.optimizer


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU rules')
def test_cpu_launcher_uses_gloo_and_ddp_without_device_ids():
    cfg = setup_train_cfg(load_config(SEG), SEG, launcher='pytorch')
    assert cfg.launcher == 'pytorch'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    # mmengine's DDP wrapper, without device_ids and with SyncBN reverted (test_tool_flags.py).
    assert cfg.model_wrapper_cfg.type == 'CPUDistributedDataParallel'
    assert cfg.model_wrapper_cfg.device_ids is None
    cfg = setup_train_cfg(load_config(SEG), SEG, launcher='none')
    assert cfg.env_cfg.get('dist_cfg', {}).get('backend') != 'gloo'
    assert 'model_wrapper_cfg' not in cfg
    with pytest.raises(ValueError, match="launcher='k8s' must be one of"):
        setup_train_cfg(load_config(SEG), SEG, launcher='k8s')


def test_test_cfg_checkpoint_out_and_show_dir():
    cfg = setup_test_cfg(load_config(DET), DET, 'w.pth', out='r.pkl', show_dir='vis')
    assert cfg.load_from == 'w.pth'
    assert cfg.test_evaluator[-1] == dict(type='mmdet.DumpDetResults', out_file_path='r.pkl')
    assert cfg.test_evaluator[0].type == 'CocoMetric'
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.test_out_dir == 'vis'
    cfg = setup_test_cfg(load_config(SEG), SEG, 'w.pth', show_dir='vis')
    assert cfg.visualizer.save_dir == 'vis' and cfg.default_hooks.visualization.draw is True
    with pytest.raises(ValueError, match='must be a .pkl'):
        setup_test_cfg(load_config(DET), DET, 'w.pth', out='r.json')


def test_autocast_optim_wrapper_runs_forward_in_bfloat16_and_steps():
    import mmattn.engine  # noqa: F401  (registers the wrapper)
    model = nn.Linear(8, 4)
    wrapper = build_optim_wrapper(model, dict(
        type='AutocastOptimWrapper', device_type='cpu', optimizer=dict(type='SGD', lr=0.1)))
    assert isinstance(wrapper, AutocastOptimWrapper)
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        y = model(torch.randn(3, 8))
    assert y.dtype == torch.bfloat16
    assert model.weight.dtype == torch.float32  # master weights stay float32
    wrapper.update_params(y.float().pow(2).mean())
    assert not torch.equal(model.weight, before)
    assert torch.isfinite(model.weight).all()
    with pytest.raises(ValueError, match='dtype=.float16. must be bfloat16'):
        AutocastOptimWrapper(dtype='float16', optimizer=torch.optim.SGD(model.parameters(),
                                                                        lr=0.1))


def test_configs_of_installed_packages_by_their_base_name():
    cfg = load_config('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py',
                      attention=['SE:after_conv2'])
    assert cfg.model.backbone.type == 'PluginResNet' and cfg.model.backbone.depth == 18
    cfg = setup_train_cfg(cfg, 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py')
    assert cfg.work_dir == './work_dirs/retinanet_r18_fpn_1x_coco'
