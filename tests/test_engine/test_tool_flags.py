"""tools/train.py and tools/test.py take every flag of mmdet's and mmseg's own tools."""
import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import DictAction

from mmattn.engine import load_config, setup_test_cfg, setup_train_cfg
from tests.conftest import CONFIG_DIR, REPO_ROOT, run_fresh_python

DET = str(CONFIG_DIR / 'demo' / 'retinanet_r18-se_fpn_300i_toy-coco.py')
SEG = str(CONFIG_DIR / 'demo' / 'fcn_r18-se-d8-gn_toy-ade-128.py')


class _Parsed(Exception):
    pass


def tool_parser(path: Path) -> argparse.ArgumentParser:
    """The parser a tool's ``parse_args()`` builds, caught as it parses (nothing runs)."""
    spec = importlib.util.spec_from_file_location(f'tool_{abs(hash(str(path)))}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines parse_args/main; __name__ is not __main__
    caught = []

    def catch(self, *args, **kwargs):
        caught.append(self)
        raise _Parsed

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = catch
    try:
        with pytest.raises(_Parsed):
            module.parse_args()
    finally:
        argparse.ArgumentParser.parse_args = original
    return caught[0]


def _package_tool(package: str, name: str) -> Path:
    return Path(importlib.import_module(package).__file__).parent / '.mim' / 'tools' / name


def _sample(action: argparse.Action):
    """A command line that uses ``action`` as its own tool documents it."""
    option = action.option_strings[0]
    if action.nargs == 0:
        return [option]
    if action.nargs == '?':
        return [option]
    if action.choices:
        value = list(action.choices)[-1]
    elif isinstance(action, DictAction):
        value = 'train_cfg.max_iters=1'
    elif action.type in (int, float):
        value = '3'
    else:
        value = 'x.pkl'
    return [option, value]


@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
@pytest.mark.parametrize('package', ['mmdet', 'mmseg'])
def test_every_flag_of_the_packages_own_tools_is_taken(package, tool):
    theirs = tool_parser(_package_tool(package, tool))
    ours = tool_parser(REPO_ROOT / 'tools' / tool)
    assert ours.allow_abbrev is False  # --show is not an abbreviation of --show-dir
    positionals = [a.dest for a in theirs._actions if not a.option_strings]
    assert positionals == [a.dest for a in ours._actions if not a.option_strings]
    their_options = {o for a in theirs._actions for o in a.option_strings}
    our_options = {o for a in ours._actions for o in a.option_strings}
    assert their_options - our_options == set()
    # Each of their flags, used as their tool takes it, parses with ours to the same dest.
    by_option = {o: a for a in ours._actions for o in a.option_strings}
    for action in theirs._actions:
        if not action.option_strings or action.dest == 'help':
            continue
        args = ours.parse_args(positionals + _sample(action))
        ours_action = by_option[action.option_strings[0]]
        assert getattr(args, ours_action.dest) not in (None, False), action.option_strings


def test_show_is_show_and_not_show_dir():
    ours = tool_parser(REPO_ROOT / 'tools' / 'test.py')
    args = ours.parse_args(['c.py', 'w.pth', '--show'])
    assert args.show is True and args.show_dir is None and args.wait_time == 2
    with pytest.raises(SystemExit):
        ours.parse_args(['c.py', 'w.pth', '--show-d', 'x'])  # no abbreviations


def test_show_wait_time_and_show_dir_as_each_package_does():
    cfg = setup_test_cfg(load_config(DET), DET, 'w.pth', show=True, wait_time=0.5,
                         show_dir='vis')
    hook = cfg.default_hooks.visualization
    assert (hook.draw, hook.show, hook.wait_time, hook.test_out_dir) == (True, True, 0.5, 'vis')
    cfg = setup_test_cfg(load_config(SEG), SEG, 'w.pth', show=True, wait_time=1)
    hook = cfg.default_hooks.visualization
    assert (hook.draw, hook.show, hook.wait_time) == (True, True, 1)
    cfg = setup_test_cfg(load_config(SEG), SEG, 'w.pth', show_dir='vis')
    assert cfg.visualizer.save_dir == 'vis'


def test_tta_wraps_the_model_and_swaps_the_pipeline():
    # mmdet: a flip TTA where the config has none, as mmdet's tool.
    cfg = load_config(DET)
    model = cfg.model.to_dict()
    cfg = setup_test_cfg(cfg, DET, 'w.pth', tta=True)
    assert cfg.model.type == 'DetTTAModel' and cfg.model.module.to_dict() == model
    assert cfg.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'
    assert [t.prob for t in cfg.tta_pipeline[-1].transforms[0]] == [1.0, 0.0]
    # mmseg: the config's own (its default_runtime's SegTTAModel, the dataset's pipeline).
    cfg = load_config(SEG, {'tta_pipeline': [dict(type='LoadImageFromFile')]})
    cfg = setup_test_cfg(cfg, SEG, 'w.pth', tta=True)
    assert cfg.model.type == 'SegTTAModel' and cfg.model.module.type == 'EncoderDecoder'
    assert cfg.test_dataloader.dataset.pipeline == [dict(type='LoadImageFromFile')]
    cfg = load_config(SEG)
    cfg.pop('tta_pipeline', None)
    with pytest.raises(ValueError, match='--tta needs tta_model and tta_pipeline'):
        setup_test_cfg(cfg, SEG, 'w.pth', tta=True)


def test_out_as_each_package_reads_it():
    cfg = setup_test_cfg(load_config(DET), DET, 'w.pth', out='r.pkl')
    assert cfg.test_evaluator[-1] == dict(type='mmdet.DumpDetResults', out_file_path='r.pkl')
    cfg = setup_test_cfg(load_config(SEG), SEG, 'w.pth', out='preds')
    assert cfg.test_evaluator.output_dir == 'preds' and cfg.test_evaluator.keep_results
    cfg = setup_test_cfg(load_config(SEG), SEG, 'w.pth', out='r.pkl')
    assert cfg.test_evaluator[-1] == dict(type='mmengine.DumpResults', out_file_path='r.pkl')


def test_auto_scale_lr():
    cfg = load_config(DET, {'auto_scale_lr': dict(enable=False, base_batch_size=16)})
    assert setup_train_cfg(cfg, DET, auto_scale_lr=True).auto_scale_lr.enable is True
    with pytest.raises(ValueError, match=r'--auto-scale-lr needs auto_scale_lr = '
                                         r'dict\(enable=False, base_batch_size=N\)'):
        setup_train_cfg(load_config(SEG), SEG, auto_scale_lr=True)


def test_slurm_scripts_keep_each_argument_whole(tmp_path):
    """srun stands in as a script that records its argv: an --attention spec with spaces
    and quotes reaches tools/train.py (and test.py) as one argument."""
    fake = tmp_path / 'srun'
    fake.write_text('#!/usr/bin/env python3\nimport json, sys\n'
                    'print(json.dumps(sys.argv[1:]))\n')
    fake.chmod(0o755)
    spec = "CBAM(norm_cfg=dict(type='GN', num_groups=8))"
    env = {'PATH': f'{tmp_path}:/usr/bin:/bin', 'GPUS': '2'}
    for script, fixed in (('slurm_train.sh', ['cfg.py', 'wd']), ('slurm_test.sh',
                                                                 ['cfg.py', 'w.pth'])):
        out = subprocess.run(['bash', str(REPO_ROOT / 'tools' / script), 'part', 'job', *fixed,
                              '--attention', spec, 'SE'], env=env, capture_output=True,
                             text=True, check=True).stdout
        argv = json.loads(out.strip().splitlines()[-1])
        tail = argv[argv.index('-u') + 1:]
        assert tail[0].endswith(f'tools/{script.split("_")[1].replace(".sh", ".py")}')
        assert tail[-3:] == ['--attention', spec, 'SE']


@pytest.mark.skipif(sys.platform != 'linux', reason='gloo on linux')
def test_cpu_ddp_reverts_syncbn_as_one_process_does(tmp_path):
    """A SyncBN segmentor under --launcher pytorch without CUDA: the runner builds, the model
    is DDP-wrapped with BatchNormXd where SyncBN was, and a log line says so."""
    out = run_fresh_python(f'''
import os
os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT='{29600 + hash(str(tmp_path)) % 300}',
                  RANK='0', WORLD_SIZE='1', LOCAL_RANK='0')
import torch
from mmattn.engine import build_runner, load_config, setup_train_cfg
syncbn = dict(_delete_=True, type='SyncBN', requires_grad=True)
cfg = load_config({SEG!r}, {{'model.backbone.norm_cfg': syncbn,
                             'model.decode_head.norm_cfg': syncbn}})
setup_train_cfg(cfg, {SEG!r}, work_dir={str(tmp_path)!r}, launcher='pytorch')
runner = build_runner(cfg)
model = runner.model
names = {{type(m).__name__ for m in model.modules()}}
print('WRAPPER', type(model).__name__)
print('SYNC', 'SyncBatchNorm' in names, 'BN', '_BatchNormXd' in names)
''')
    assert 'WRAPPER CPUDistributedDataParallel' in out
    assert 'SYNC False BN True' in out
    logs = ''.join(p.read_text() for p in tmp_path.glob('*/*.log'))
    assert 'SyncBatchNorm layers reverted to BatchNormXd (SyncBatchNorm needs CUDA)' in logs
