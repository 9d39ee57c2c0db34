"""The sweep tool: derived configs, launch commands, local runs and the comparison table."""
import io
import json
import os
import os.path as osp
import subprocess
import sys
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from mmattn.config import RECORD_KEY, build_parts, derive_model, paper_placements, parse_module_spec
from mmattn.models import STAGE_4, STAGES_2_TO_4
from mmattn.sweep import derive_configs, derived_name
from mmattn.sweep.cli import main as sweep_main
from mmattn.sweep.launch import format_command, train_command
from mmattn.sweep.results import comparison_table, final_metrics, pick_metrics
from tests.conftest import CONFIG_DIR, REPO_ROOT

RETINANET_SE = str(CONFIG_DIR / 'se' / 'retinanet_r50-se_fpn_1x_coco.py')
MMDET_RETINANET = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
DEMO_COCO = CONFIG_DIR / 'demo' / 'retinanet_r18-se_fpn_300i_toy-coco.py'


# ----------------------------------------------------------------------------- specs

@pytest.fixture(scope='module')
def retinanet_cfg(tmp_path_factory):
    stub = tmp_path_factory.mktemp('base') / 'retinanet.py'
    stub.write_text(f'_base_ = {MMDET_RETINANET!r}\n')
    return Config.fromfile(str(stub))


def _placed(cfg, spec, position=None, stages=None):
    (placed, ) = derive_model(cfg, [parse_module_spec(spec, position, stages)]).placements
    return placed.type, placed.position, placed.stages


def test_module_spec_fills_in_from_overrides_then_the_paper(retinanet_cfg):
    cfg = retinanet_cfg
    assert _placed(cfg, 'CBAM') == ('CBAM', 'after_conv3', STAGES_2_TO_4)
    assert _placed(cfg, 'SK') == ('SK', 'after_conv2', STAGES_2_TO_4)
    assert _placed(cfg, 'DANetPAM') == ('DANetPAM', 'after_conv2', STAGE_4)
    assert _placed(cfg, 'CBAM:after_conv2') == ('CBAM', 'after_conv2', STAGES_2_TO_4)
    assert _placed(cfg, 'CBAM::0011') == ('CBAM', 'after_conv3', (False, False, True, True))
    assert _placed(cfg, 'CBAM', position='after_conv1', stages='1111') == (
        'CBAM', 'after_conv1', (True, True, True, True))
    # The spec wins over the sweep-wide overrides.
    assert _placed(cfg, 'SE:after_conv2:0001', 'after_conv1', '1111') == (
        'SE', 'after_conv2', STAGE_4)
    # A module outside the table works when the spec says where it goes.
    assert _placed(cfg, 'GeneralizedAttention:after_conv2:0001') == (
        'GeneralizedAttention', 'after_conv2', STAGE_4)


@pytest.mark.parametrize('spec, match', [
    ('CBAM:after_conv4', 'position'),
    ('CBAM::011', '4 digits'),
    ('CBAM::01a1', 'digits 0/1'),
    ('CBAM:after_conv3:0111:x', 'TYPE'),
    (':after_conv3', 'TYPE'),
    ('ContextBlock', 'no default position'),
    ('NotInTheTable', "module type 'NotInTheTable' is not registered"),
])
def test_bad_module_specs_say_what_is_wrong(spec, match, retinanet_cfg):
    with pytest.raises(ValueError, match=match):
        _placed(retinanet_cfg, spec)


def test_derived_names_follow_the_mmdet_rule():
    assert derived_name('retinanet_r50_fpn_1x_coco', 'cbam') == 'retinanet_r50-cbam_fpn_1x_coco'
    assert derived_name('fcn_r50-d8_4xb4-80k_ade20k-512x512', 'eca') == (
        'fcn_r50-d8-eca_4xb4-80k_ade20k-512x512')
    assert derived_name('toy', 'se') == 'toy_se'
    assert derived_name('retinanet_r50_fpn_1x_coco', None) == 'retinanet_r50_fpn_1x_coco'


# ----------------------------------------------------------------------------- configs

def _without_plugins(cfg):
    """The config but for what a derivation changes: backbone type and plugins, imports,
    and the record of the spec (which tools/train.py's checkpoints carry)."""
    d = cfg.to_dict()
    d['model']['backbone'].pop('plugins', None)
    d['model']['backbone'].pop('type', None)
    d.pop('custom_imports', None)
    d.pop(RECORD_KEY, None)
    return d


def _backbone_module_types(cfg):
    backbone = build_parts(cfg.model.to_dict(), 'mmdet', ['backbone'])['backbone']
    return [(name, type(m).__name__) for name, m in backbone.named_modules()
            if type(m).__name__ in ('SE', 'CBAM', 'ECA')]


def test_derived_configs_differ_from_the_base_only_in_backbone_type_and_plugins(tmp_path):
    specs = [parse_module_spec(s) for s in ('CBAM', 'SE:after_conv2:0011')]
    entries = derive_configs(MMDET_RETINANET, specs, str(tmp_path))
    assert [e.name for e in entries] == [
        'retinanet_r50_fpn_1x_coco', 'retinanet_r50-cbam_fpn_1x_coco',
        'retinanet_r50-se-c2-s34_fpn_1x_coco']
    assert entries[0].module_type is None
    base_stub = tmp_path / 'stub.py'
    base_stub.write_text(f'_base_ = {MMDET_RETINANET!r}\n')
    base = Config.fromfile(str(base_stub))
    derived = [Config.fromfile(e.config) for e in entries]
    for cfg in derived:
        assert _without_plugins(cfg) == _without_plugins(base)
        assert cfg.custom_imports == dict(imports=['mmattn'], allow_failed_imports=False)
    assert derived[0].model.backbone == base.model.backbone  # the baseline is the base
    assert RECORD_KEY not in derived[0]
    assert derived[1][RECORD_KEY] == dict(specs=['CBAM'], identity_init=False)
    assert derived[2][RECORD_KEY] == dict(specs=['SE:after_conv2:0011'], identity_init=False)
    assert derived[1].model.backbone.type == 'PluginResNet'
    assert derived[1].model.backbone.plugins == [dict(
        cfg=dict(type='CBAM'), stages=STAGES_2_TO_4, position='after_conv3')]
    text = open(entries[1].config).read()
    assert 'Backbone ResNet -> PluginResNet: the same network and parameter names' in text

    # They build: 0 modules, CBAM after conv3 of the 13 blocks of stages 2-4, SE after
    # conv2 of the 9 blocks of stages 3-4.
    assert _backbone_module_types(derived[0]) == []
    cbam = _backbone_module_types(derived[1])
    assert len(cbam) == 13 and {t for _, t in cbam} == {'CBAM'}
    se = _backbone_module_types(derived[2])
    assert len(se) == 9 and all(n.startswith(('layer3', 'layer4')) for n, _ in se)


def test_derived_configs_replace_the_plugins_of_a_file_base(tmp_path):
    out = tmp_path / 'configs'
    entries = derive_configs(RETINANET_SE, [parse_module_spec('ECA')], str(out))
    # The base's own tag (-se) goes: its SE is not in the derived configs.
    assert [e.name for e in entries] == [
        'retinanet_r50_fpn_1x_coco', 'retinanet_r50-eca_fpn_1x_coco']
    text = open(entries[1].config).read()
    # By relative path inside one tree, else (tmp_path under /tmp) by absolute path.
    assert (f"_base_ = '{os.path.relpath(RETINANET_SE, out)}'" in text
            or f"_base_ = '{RETINANET_SE}'" in text)
    assert "Replaces the base's SE plugin." in text
    head = open(entries[0].config).read().replace('\n# ', ' ')
    assert "The base's SE plugin taken out." in head
    base, baseline, eca = (Config.fromfile(RETINANET_SE),
                           *(Config.fromfile(e.config) for e in entries))
    assert _without_plugins(baseline) == _without_plugins(eca) == _without_plugins(base)
    assert baseline.model.backbone.plugins is None
    assert [p['cfg']['type'] for p in eca.model.backbone.plugins] == ['ECA']


def test_derived_configs_keep_the_base_custom_imports(tmp_path):
    base = tmp_path / 'base.py'
    base.write_text(f"_base_ = {RETINANET_SE!r}\n"
                    "custom_imports = dict(imports=['mmattn', 'mmattn.engine'], "
                    "allow_failed_imports=False)\n")
    (entry,) = derive_configs(str(base), [parse_module_spec('SE')], str(tmp_path / 'out'),
                              baseline=False, check=False)
    assert entry.name == 'base_se'
    cfg = Config.fromfile(entry.config)
    assert cfg.custom_imports.imports == ['mmattn', 'mmattn.engine']


def test_stage_count_follows_the_backbone(tmp_path):
    base = tmp_path / 'three_stages.py'
    base.write_text(f"_base_ = {RETINANET_SE!r}\nmodel = dict(backbone=dict(num_stages=3, "
                    "out_indices=(0, 1, 2)), neck=dict(in_channels=[256, 512, 1024]))\n")
    with pytest.raises(ValueError, match=r'three_stages-se would not build: AssertionError at '
                                         r'assert len\(strides\) == len\(dilations\) == '
                                         r'num_stages \(.*resnet.py'):
        derive_configs(str(base), ['SE'], str(tmp_path / 'out'), baseline=False)
    base.write_text(base.read_text().replace('num_stages=3,', 'num_stages=3, strides=(1, 2, 2), '
                                             'dilations=(1, 1, 1),'))
    # The paper's stages 2-4 of a 3-stage ResNet: 2-3.
    (entry, ) = derive_configs(str(base), ['SE'], str(tmp_path / 'out'), baseline=False)
    assert entry.stages == (False, True, True)
    with pytest.raises(ValueError, match='must have 3 digits, one per backbone stage'):
        derive_configs(str(base), ['SE::0111'], str(tmp_path / 'out'))


def test_every_table_entry_derives_a_distinct_config(tmp_path):
    specs = [parse_module_spec(t) for t in paper_placements()]
    entries = derive_configs(MMDET_RETINANET, specs, str(tmp_path), baseline=False, check=False)
    names = [e.name for e in entries]
    assert len(set(names)) == len(paper_placements())
    # At its paper position a module's derived name is the zoo's file name.
    zoo = {p.name for p in CONFIG_DIR.glob('*/retinanet_r50-*.py')}
    assert {n + '.py' for n in names} <= zoo


# ----------------------------------------------------------------------------- results

def _write_run(work_dir, timestamp, records):
    """A run folder as mmengine 0.10.7's LocalVisBackend writes it: one JSON a line."""
    vis = osp.join(work_dir, timestamp, 'vis_data')
    os.makedirs(vis, exist_ok=True)
    for name in ('scalars.json', f'{timestamp}.json'):
        with open(osp.join(vis, name), 'a') as f:
            for r in records:
                f.write(json.dumps(r) + '\n')


def _det_train_line(it, loss):
    return {'lr': 0.02, 'data_time': 0.01, 'loss': loss, 'loss_cls': loss * 0.6,
            'loss_bbox': loss * 0.4, 'time': 0.4, 'epoch': 1, 'iter': it, 'memory': 3000,
            'step': it}


def _det_val_line(epoch, bbox_map, segm_map=None):
    line = {'coco/bbox_mAP': bbox_map, 'coco/bbox_mAP_50': bbox_map + 0.2,
            'coco/bbox_mAP_75': bbox_map + 0.02, 'coco/bbox_mAP_s': 0.2,
            'coco/bbox_mAP_m': 0.4, 'coco/bbox_mAP_l': 0.5, 'data_time': 0.002,
            'time': 0.05, 'step': epoch}
    if segm_map is not None:
        line['coco/segm_mAP'] = segm_map
    return line


def test_final_metrics_reads_the_last_evaluation_of_the_newest_run(tmp_path):
    wd = str(tmp_path / 'retinanet')
    _write_run(wd, '20240101_120000', [_det_train_line(50, 1.2), _det_val_line(1, 0.101),
                                       _det_train_line(100, 0.9), _det_val_line(2, 0.152)])
    assert final_metrics(wd)['coco/bbox_mAP'] == 0.152
    assert final_metrics(wd)['step'] == 2
    # A resumed run: a newer timestamp folder whose last evaluation wins; a line cut
    # short by a killed job is skipped.
    _write_run(wd, '20240102_080000', [_det_train_line(150, 0.8), _det_val_line(3, 0.2)])
    with open(osp.join(wd, '20240102_080000', 'vis_data', 'scalars.json'), 'a') as f:
        f.write('{"lr": 0.02, "loss": 0.7')
    assert final_metrics(wd)['coco/bbox_mAP'] == 0.2
    # A newer run that died before evaluating does not hide the older evaluation.
    _write_run(wd, '20240103_090000', [_det_train_line(10, 2.0)])
    assert final_metrics(wd)['coco/bbox_mAP'] == 0.2


def test_final_metrics_iteration_based_mmseg_and_test_only_runs(tmp_path):
    seg = str(tmp_path / 'fcn')
    _write_run(seg, '20240101_000000', [
        {'lr': 0.01, 'data_time': 0.01, 'loss': 2.0, 'decode.loss_ce': 1.5,
         'decode.acc_seg': 40.0, 'aux.loss_ce': 0.5, 'aux.acc_seg': 30.0, 'time': 0.5,
         'iter': 8000, 'memory': 4000, 'step': 8000},
        {'aAcc': 75.0, 'mIoU': 30.5, 'mAcc': 40.1, 'data_time': 0.01, 'time': 0.2,
         'step': 8000},
        {'aAcc': 78.0, 'mIoU': 35.25, 'mAcc': 45.0, 'data_time': 0.01, 'time': 0.2,
         'step': 16000}])
    assert final_metrics(seg)['mIoU'] == 35.25
    # tools/test.py: <work_dir>/<timestamp>/<timestamp>.json holds one JSON object.
    test_only = tmp_path / 'tested' / '20240105_101010'
    test_only.mkdir(parents=True)
    (test_only / '20240105_101010.json').write_text(json.dumps(
        {'coco/bbox_mAP': 0.31, 'coco/bbox_mAP_copypaste': '0.31 0.5', 'time': 0.1}))
    assert final_metrics(str(tmp_path / 'tested')) == {'coco/bbox_mAP': 0.31, 'time': 0.1}
    assert final_metrics(str(tmp_path / 'missing')) == {}


def test_final_metrics_on_a_real_mmengine_work_dir(tmp_path):
    """The parser against what mmengine itself writes: a tiny Runner, 2 epochs, val each."""
    import torch
    from mmengine.evaluator import BaseMetric, Evaluator
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Toy(BaseModel):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, inputs, labels=None, mode='tensor'):
            x = torch.stack(inputs) if isinstance(inputs, list) else inputs
            out = x * self.w
            if mode == 'loss':
                return {'loss': ((out - 1) ** 2).mean()}
            return [(o, lb) for o, lb in zip(out, labels)]

    class ToyMetric(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results += [float((o - 1).abs().mean()) for o, _ in data_samples]

        def compute_metrics(self, results):
            return {'error': sum(results) / len(results)}

    data = [dict(inputs=torch.ones(2), labels=0) for _ in range(4)]
    loader = dict(dataset=data, batch_size=2, sampler=dict(type='DefaultSampler'),
                  collate_fn=dict(type='default_collate'))
    runner = Runner(
        model=Toy(), work_dir=str(tmp_path), train_dataloader=loader, val_dataloader=loader,
        val_evaluator=Evaluator(ToyMetric(prefix='toy')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1), val_cfg=dict(),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=dict(type='CheckpointHook', interval=100)),
        default_scope='mmengine', experiment_name='toy')
    runner.train()
    lines = [json.loads(s) for s in
             open(osp.join(str(tmp_path), runner.timestamp, 'vis_data', 'scalars.json'))]
    evals = [ln for ln in lines if 'toy/error' in ln]
    assert len(evals) == 2 and any('loss' in ln for ln in lines)
    metrics = final_metrics(str(tmp_path))
    assert metrics['toy/error'] == evals[-1]['toy/error'] and metrics['step'] == 2
    assert 'loss' not in metrics


def test_comparison_table_with_baseline_deltas_and_failures():
    rows = [('retinanet_r50_fpn_1x_coco', 'none (baseline)', {'coco/bbox_mAP': 0.365}),
            ('retinanet_r50-se_fpn_1x_coco', 'SE (after_conv3, stages 2-4)',
             {'coco/bbox_mAP': 0.3712}),
            ('retinanet_r50-cbam_fpn_1x_coco', 'CBAM (after_conv3, stages 2-4)', {})]
    metrics = pick_metrics([r[2] for r in rows])
    assert metrics == ['coco/bbox_mAP']
    table = comparison_table(rows, metrics, baseline='retinanet_r50_fpn_1x_coco',
                             notes={'retinanet_r50-cbam_fpn_1x_coco': 'failed (exit 1)'})
    assert table.splitlines() == [
        '| config | module (position, stages) | coco/bbox_mAP | Δ coco/bbox_mAP | status |',
        '|---|---|---|---|---|',
        '| `retinanet_r50_fpn_1x_coco` | none (baseline) | 0.365 |  | ok |',
        '| `retinanet_r50-se_fpn_1x_coco` | SE (after_conv3, stages 2-4) | 0.3712 | +0.0062 '
        '| ok |',
        '| `retinanet_r50-cbam_fpn_1x_coco` | CBAM (after_conv3, stages 2-4) | - | - '
        '| failed (exit 1) |',
    ]
    # Mask R-CNN logs both box and mask mAP: both become columns, in a fixed order.
    assert pick_metrics([{'coco/segm_mAP': 0.3, 'coco/bbox_mAP': 0.4, 'step': 12}]) == [
        'coco/bbox_mAP', 'coco/segm_mAP']
    assert pick_metrics([{}], ['mIoU']) == ['mIoU']


# ----------------------------------------------------------------------------- launching

def test_train_commands_for_each_launcher():
    assert train_command('a.py', 'wd/a', 'none', train_args=['--amp']) == [
        'python', 'tools/train.py', 'a.py', '--work-dir', 'wd/a', '--amp']
    assert train_command('a.py', 'wd/a', 'pytorch', gpus=4) == [
        'bash', 'tools/dist_train.sh', 'a.py', '4', '--work-dir', 'wd/a']
    cmd = train_command('a.py', 'wd/a', 'slurm', gpus=16, partition='gpu', job_name='j')
    assert format_command(cmd) == (
        'GPUS=16 GPUS_PER_NODE=8 bash tools/slurm_train.sh gpu j a.py wd/a')
    with pytest.raises(ValueError, match='partition'):
        train_command('a.py', 'wd/a', 'slurm')
    assert format_command(['python', 'x y.py', 'a=b']) == "python 'x y.py' a=b"


def test_cli_prints_cluster_commands_and_the_collect_line(tmp_path):
    out = io.StringIO()
    rc = sweep_main([MMDET_RETINANET, 'SE', 'CBAM', '--out-dir', str(tmp_path),
                     '--launcher', 'slurm', '--partition', 'p1', '--gpus', '8', '--',
                     '--amp'], out=out)
    assert rc == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('# 3 configs in ')
    assert len(lines) == 5
    for line, name in zip(lines[1:4], ['retinanet_r50_fpn_1x_coco',
                                       'retinanet_r50-se_fpn_1x_coco',
                                       'retinanet_r50-cbam_fpn_1x_coco']):
        config = osp.join(str(tmp_path), 'configs', name + '.py')
        assert line.endswith(f'slurm_train.sh p1 {name} {config} '
                             f'{osp.join(str(tmp_path), name)} --amp')
        assert line.startswith('GPUS=8 GPUS_PER_NODE=8 bash ')
        assert osp.isfile(config)
    assert lines[4].endswith('--collect') and '--out-dir' in lines[4]


def test_cli_runs_locally_then_tabulates(tmp_path):
    """--run with a stand-in for subprocess.run that writes what a training run logs."""
    calls, envs = [], []
    maps = {'retinanet_r50_fpn_1x_coco': 0.30, 'retinanet_r50-eca_fpn_1x_coco': 0.32}

    def fake_run(argv, env=None):
        calls.append(argv)
        envs.append(env)
        work_dir = argv[argv.index('--work-dir') + 1]
        name = osp.basename(work_dir)
        if name not in maps:
            return SimpleNamespace(returncode=1)
        _write_run(work_dir, '20240101_000000',
                   [_det_train_line(10, 1.0), _det_val_line(1, maps[name])])
        return SimpleNamespace(returncode=0)

    out = io.StringIO()
    rc = sweep_main([MMDET_RETINANET, 'ECA', 'SE', '--out-dir', str(tmp_path), '--run',
                     '--', '--cfg-options', 'train_cfg.max_epochs=1'], out=out,
                    runner=fake_run)
    assert rc == 1  # SE's run failed
    assert [c[1] for c in calls] == [str(REPO_ROOT / 'tools' / 'train.py')] * 3
    assert calls[0][0] == sys.executable
    # The runs import mmattn from this checkout, as tools/dist_train.sh does.
    assert envs[0]['PYTHONPATH'].split(os.pathsep)[0] == str(REPO_ROOT)
    assert calls[1][-2:] == ['--cfg-options', 'train_cfg.max_epochs=1']
    table = out.getvalue().split('\n| config')[1]
    assert '| `retinanet_r50-eca_fpn_1x_coco` | ECA (after_conv3, stages 2-4) | 0.32 | +0.02 ' \
           '| ok |' in table
    assert '| `retinanet_r50-se_fpn_1x_coco` | SE (after_conv3, stages 2-4) | - | - | ' \
           'failed (exit 1) |' in table
    assert (tmp_path / 'results.md').read_text().startswith('| config')

    # --collect later reads the same work dirs without running anything.
    out = io.StringIO()
    calls.clear()
    sweep_main([MMDET_RETINANET, 'ECA', 'SE', '--out-dir', str(tmp_path), '--collect'],
               out=out, runner=fake_run)
    assert calls == [] and '| no log |' in out.getvalue() and '| 0.32 |' in out.getvalue()


def test_cli_rejects_bad_requests(tmp_path, capsys):
    with pytest.raises(SystemExit):
        sweep_main([MMDET_RETINANET, '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit):
        sweep_main([MMDET_RETINANET, 'Unknown', '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit):
        sweep_main([MMDET_RETINANET, 'SE', '--run', '--launcher', 'slurm'])
    with pytest.raises(SystemExit):
        sweep_main([MMDET_RETINANET, 'ContextBlock', '--out-dir', str(tmp_path)])
    err = capsys.readouterr().err
    assert "module type 'Unknown' is not registered" in err
    assert 'no default position' in err and '--launcher none' in err


def test_basic_block_bases_need_an_existing_position(tmp_path):
    base = tmp_path / 'r18.py'
    base.write_text("_base_ = 'mmdet::retinanet/retinanet_r18_fpn_1x_coco.py'\n")
    with pytest.raises(ValueError, match='BasicBlock has no conv3'):
        derive_configs(str(base), [parse_module_spec('SE')], str(tmp_path / 'out'))
    (entry,) = derive_configs(str(base), [parse_module_spec('SE:after_conv2')],
                              str(tmp_path / 'out'), baseline=False)
    assert entry.name == 'r18_se-c2-s234'


# Every kind of derived config the sweep writes, on mmdet's and mmseg's own configs: each
# written file builds, and holds exactly the model the derivation made.
KINDS = {
    'R-50 bottleneck plugins': ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 'SE',
                                'PluginResNet'),
    'R-18 BasicBlock plugins': ('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py',
                                'SE:after_conv2', 'PluginResNet'),
    'ResNeXt plugins': ('mmdet::retinanet/retinanet_x101-32x4d_fpn_1x_coco.py', 'ECA',
                        'PluginResNeXt'),
    'mmseg ResNetV1c plugins': ('mmseg::fcn/fcn_r50-d8_4xb4-80k_ade20k-512x512.py',
                                'CoordAttention', 'PluginResNetV1c'),
    'outputs of any backbone': ('mmseg::mobilenet_v2/mobilenet-v2-d8_fcn_4xb2-80k_'
                                'cityscapes-512x1024.py', 'DANetCAM', 'AttentionBackbone'),
    'neck levels': ('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py', 'CBAM:after_neck',
                    'AttentionNeck'),
    'neck module': ('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py', 'ASFF', 'ASFF'),
}


@pytest.mark.parametrize('kind', list(KINDS))
def test_every_kind_of_derived_config_builds(kind, tmp_path):
    base, spec, made = KINDS[kind]
    package = base.split('::')[0]
    baseline, entry = derive_configs(base, [spec], str(tmp_path))
    stub = tmp_path / 'stub.py'
    stub.write_text(f'_base_ = {base!r}\n')
    derivation = derive_model(Config.fromfile(str(stub)), [parse_module_spec(spec)])
    for written, model in ((baseline, None), (entry, derivation.model)):
        cfg = Config.fromfile(written.config)
        if model is not None:
            assert cfg.model.to_dict() == model  # the file says what was derived
        built = build_parts(cfg.model.to_dict(), package)
        names = {type(m).__name__ for part in built.values() for m in part.modules()}
        assert (made in names) == (model is not None)
    # ... and runs: the changed part on a small input.
    part = 'neck' if 'neck' in kind else 'backbone'
    built = build_parts(derivation.model, package)
    for module in built.values():
        module.eval()
    import torch
    with torch.no_grad():
        feats = built['backbone'](torch.randn(1, 3, 64, 64))
        outs = built['neck'](feats) if part == 'neck' else feats
    assert all(torch.isfinite(o).all() for o in outs)


def test_a_config_that_would_not_build_is_not_written(tmp_path):
    with pytest.raises(ValueError, match=r'sweep: retinanet_r50-se-reduction0_fpn_1x_coco would '
                                         r'not build: ValueError: SE: reduction=0 must be >= 1'):
        derive_configs(MMDET_RETINANET, ['SE', 'SE(reduction=0)'], str(tmp_path))
    assert not list(tmp_path.glob('*.py'))


def test_tools_sweep_runs_its_own_checkouts_tools(monkeypatch):
    """tools/sweep.py hands its own folder to the sweep, whatever mmattn is installed."""
    import runpy

    import mmattn.sweep.cli as cli
    seen = {}
    monkeypatch.setattr(cli, 'main', lambda **kwargs: seen.update(kwargs) or 0)
    with pytest.raises(SystemExit):
        runpy.run_path(str(REPO_ROOT / 'tools' / 'sweep.py'), run_name='__main__')
    assert seen == dict(tools_dir=str(REPO_ROOT / 'tools'))


@pytest.mark.integration
@pytest.mark.skipif(not DEMO_COCO.is_file() or not (REPO_ROOT / 'tools' / 'train.py').is_file(),
                    reason='needs the demo config and tools/train.py')
def test_sweep_runs_tools_train_locally_on_the_toy_set(tmp_path):
    """The real thing, tiny: baseline + SE on the demo detector, 2 iterations each."""
    from mmattn.datasets import make_toy_coco
    data = tmp_path / 'toy_coco'
    make_toy_coco(str(data), seed=0, num_train=4, num_val=2, img_size=64)
    # The demo's R-18 in mmattn's plugin-capable ResNet (mmdet's BasicBlock takes none).
    base = tmp_path / 'toy.py'
    base.write_text(f"_base_ = {str(DEMO_COCO)!r}\n"
                    "model = dict(backbone=dict(type='mmattn.PluginResNet'))\n")
    root = str(data) + '/'
    train_args = [
        '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'custom_hooks=[]', 'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
        f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={root}annotations/instances_val.json',
        f'test_evaluator.ann_file={root}annotations/instances_val.json',
        'default_hooks.checkpoint.interval=100', 'default_hooks.logger.interval=1']
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('MMATTN_TEST_THREADS', '2'))
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / 'tools' / 'sweep.py'), str(base), 'SE:after_conv2',
         '--out-dir', str(tmp_path / 'sweep'), '--run', '--', *train_args],
        cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = proc.stdout[proc.stdout.index('| config'):].splitlines()
    assert len(table) == 4
    assert table[0] == ('| config | module (position, stages) | coco/bbox_mAP | '
                        'Δ coco/bbox_mAP | status |')
    assert table[2].startswith('| `toy` | none (baseline) | ')
    assert table[3].startswith('| `toy_se-c2-s234` | SE (after_conv2, stages 2-4) | ')
    assert all(row.endswith('| ok |') for row in table[2:])
    # Each work dir holds mmengine's logs, and the table's numbers are their last mAP.
    for name, row in (('toy', table[2]), ('toy_se-c2-s234', table[3])):
        value = final_metrics(str(tmp_path / 'sweep' / name))['coco/bbox_mAP']
        assert row.split(' | ')[2] == f'{value:.4g}'
