"""What ``tools/train.py`` and ``tools/test.py`` do, as functions a test can call.

The rules follow mmdet's and mmseg's own tools (``--work-dir``, ``--amp``, ``--resume``,
``--cfg-options``, ``--launcher``), for mmdet and mmseg configs alike (the config's
``default_scope`` decides), with what a CPU needs on top:

- ``--amp`` on a machine without CUDA trains in bfloat16 autocast
  (:class:`~mmattn.engine.AutocastOptimWrapper`), since mmengine's ``AmpOptimWrapper``
  requires a GPU; with CUDA it is mmengine's ``AmpOptimWrapper`` with dynamic loss
  scaling, as in mmdet.
- ``--launcher pytorch`` without CUDA initialises the process group with gloo itself
  (mmengine's initialiser calls ``torch.cuda.set_device``, which a CPU build of torch
  lacks) and wraps the model in DDP without ``device_ids``, SyncBN turned into BN
  with a log line (:class:`~mmattn.engine.ddp.CPUDistributedDataParallel`), as
  mmengine's runner does in one process.
- The checkpoint loading shim of :mod:`mmattn.compat` is applied before the runner
  loads anything (resume and ``load_from`` on torch >= 2.6).
"""
import argparse
import copy
import os
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log

from mmattn.compat import apply_compat
from mmattn.config import compose_config, record_of
from mmattn.models.utils import check_checkpoint_fits, read_checkpoint

__all__ = ['LAUNCHERS', 'add_launch_arguments', 'parse_launch_args', 'load_config',
           'setup_train_cfg', 'setup_test_cfg', 'build_runner', 'train', 'test', 'check_fits']

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_launch_arguments(parser: argparse.ArgumentParser, cfg_example: str) -> None:
    """The arguments train.py and test.py share: ``--cfg-options``, ``--attention``,
    ``--launcher``, local rank."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override config settings, e.g. {cfg_example}')
    parser.add_argument(
        '--attention', nargs='+', metavar='SPEC',
        help='put attention modules into the config\'s model, replacing its own: '
        'TYPE[(ARGS)][:POSITION[:STAGES]], e.g. CBAM, SE:after_conv3:0111, '
        '"SE(reduction=8)", CBAM:after_stage, ASFF; positions after_conv1/2/3 (ResNet '
        'blocks), after_stage (backbone outputs), after_neck (neck levels). '
        'The resulting backbone/neck is printed')
    parser.add_argument('--identity-init', action='store_true',
                        help='--attention\'s modules start as the identity (IdentityInit), so '
                        'the network computes the base\'s function at iteration 0')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser: argparse.ArgumentParser,
                      argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse, and export the local rank as ``LOCAL_RANK`` unless a launcher already did."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(config: str, cfg_options: Optional[dict] = None,
                attention: Optional[Sequence[str]] = None,
                identity_init: bool = False,
                checkpoint: Optional[str] = None,
                tool: str = 'mmattn tools') -> Config:
    """Read ``config`` (a path, or an installed package's config as ``_base_`` names it:
    ``mmdet::retinanet/retinanet_r50_fpn_1x_coco.py``), then put in the attention and merge
    ``--cfg-options``, in the one order of :func:`mmattn.config.compose_config`. Without
    ``attention``, the ``checkpoint``'s meta may bring back the attention it was trained
    with.
    """
    if '::' in config:
        # mmengine's own resolution of a `_base_ = 'mmdet::...'` reference.
        config = Config._get_cfg_path(config, '')[0]
    cfg = Config.fromfile(config)
    meta = read_checkpoint(checkpoint)[1] if checkpoint is not None and not attention else None
    return compose_config(cfg, attention, identity_init, meta, cfg_options, tool)


def _set_work_dir(cfg: Config, config: str, work_dir: Optional[str]) -> None:
    # Priority as in mmdet/mmseg: command line > config > ./work_dirs/<config name>.
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])


def _set_launcher(cfg: Config, launcher: str) -> None:
    if launcher not in LAUNCHERS:
        raise ValueError(f'mmattn tools: launcher={launcher!r} must be one of {LAUNCHERS}')
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    # CPU-only distributed run: gloo, and a DDP wrapper without device_ids (mmengine
    # passes device_ids=[LOCAL_RANK], which DDP refuses for a CPU module) that turns
    # SyncBN into BN first, as mmengine does for one process (mmattn.engine.ddp).
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None) or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if wrapper.get('type', 'MMDistributedDataParallel').rpartition('.')[2] == \
            'MMDistributedDataParallel':
        wrapper['type'] = 'CPUDistributedDataParallel'
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def _set_amp(cfg: Config) -> None:
    optim_wrapper = cfg.optim_wrapper
    if optim_wrapper.get('type', 'OptimWrapper') in ('AmpOptimWrapper',
                                                     'AutocastOptimWrapper'):
        print_log('AMP is already enabled in the config.', logger='current')
        return
    if torch.cuda.is_available():
        optim_wrapper.type = 'AmpOptimWrapper'
        optim_wrapper.loss_scale = 'dynamic'
    else:
        optim_wrapper.type = 'AutocastOptimWrapper'
        optim_wrapper.dtype = 'bfloat16'


def _set_auto_scale_lr(cfg: Config) -> None:
    # As mmdet's tools/train.py: the config names the batch size its lr is for.
    scale = cfg.get('auto_scale_lr', None)
    if not isinstance(scale, dict) or 'base_batch_size' not in scale:
        raise ValueError(
            'mmattn tools: --auto-scale-lr needs auto_scale_lr = dict(enable=False, '
            'base_batch_size=N) in the config (the total batch size its lr is for; mmdet\'s '
            'configs have it, mmseg\'s do not): add it, e.g. with --cfg-options '
            'auto_scale_lr.base_batch_size=16')
    scale['enable'] = True


def setup_train_cfg(cfg: Config,
                    config: str,
                    work_dir: Optional[str] = None,
                    amp: bool = False,
                    resume: Optional[str] = None,
                    launcher: str = 'none',
                    auto_scale_lr: bool = False) -> Config:
    """Merge the training arguments into ``cfg`` (in place) and return it.

    Args:
        cfg (Config): The loaded config (``--cfg-options`` already merged).
        config (str): Its path, for the default work dir ``./work_dirs/<name>``.
        work_dir (str, optional): ``--work-dir``.
        amp (bool): ``--amp``: float16 AMP with CUDA, bfloat16 autocast without.
        resume (str, optional): ``--resume``: ``'auto'`` resumes from the latest
            checkpoint in the work dir, a path resumes from that checkpoint, None starts
            afresh.
        launcher (str): ``--launcher``: one of ``LAUNCHERS``.
        auto_scale_lr (bool): ``--auto-scale-lr``: scale the lr by the actual total
            batch size over the config's ``auto_scale_lr.base_batch_size`` (mmengine's
            runner does it), as mmdet's tool.
    """
    _set_work_dir(cfg, config, work_dir)
    _set_launcher(cfg, launcher)
    # Every checkpoint carries the --attention it was trained with (its meta).
    hooks = list(cfg.get('custom_hooks', None) or [])
    if not any(isinstance(h, dict) and h.get('type') == 'AttentionRecordHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='AttentionRecordHook')]
    if amp:
        _set_amp(cfg)
    if auto_scale_lr:
        _set_auto_scale_lr(cfg)
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        cfg.resume = True
        cfg.load_from = resume
    return cfg


def setup_test_cfg(cfg: Config,
                   config: str,
                   checkpoint: str,
                   work_dir: Optional[str] = None,
                   out: Optional[str] = None,
                   show_dir: Optional[str] = None,
                   launcher: str = 'none',
                   show: bool = False,
                   wait_time: float = 2,
                   tta: bool = False) -> Config:
    """Merge the test arguments into ``cfg`` (in place) and return it.

    Each argument does what the same flag of the config's own package's
    ``tools/test.py`` does (mmdet 3.3 or mmseg 1.2, by ``default_scope``).

    Args:
        cfg (Config): The loaded config.
        config (str): Its path, for the default work dir.
        checkpoint (str): The weights to test.
        work_dir (str, optional): ``--work-dir``.
        out (str, optional): ``--out``: a ``.pkl`` file for the raw predictions
            (mmdet: its ``DumpDetResults``); for mmseg configs a path without
            ``.pkl`` is mmseg's: the folder its ``IoUMetric`` writes the
            predicted maps to (``output_dir``, ``keep_results``).
        show_dir (str, optional): ``--show-dir``: a folder (under the run's
            time-stamped directory for mmdet, as mmdet does) for the drawn predictions.
        launcher (str): ``--launcher``.
        show (bool): ``--show``: display each drawn prediction for ``wait_time`` s.
        wait_time (float): ``--wait-time``.
        tta (bool): ``--tta``: test-time augmentation with the config's
            ``tta_model`` and ``tta_pipeline`` (mmdet: a flip TTA where the config
            has none, as mmdet's tool).
    """
    _set_work_dir(cfg, config, work_dir)
    _set_launcher(cfg, launcher)
    cfg.load_from = checkpoint
    seg = cfg.get('default_scope') == 'mmseg'
    if show or show_dir:
        _set_visualization(cfg, seg, show, wait_time, show_dir)
    if tta:
        _set_tta(cfg, seg)
    if out is not None:
        if seg and not out.endswith(('.pkl', '.pickle')):
            cfg.test_evaluator['output_dir'] = out
            cfg.test_evaluator['keep_results'] = True
            return cfg
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'mmattn tools: --out={out!r} must be a .pkl or .pickle file')
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        dump = 'mmengine.DumpResults' if seg else 'mmdet.DumpDetResults'
        cfg.test_evaluator = list(evaluators) + [dict(type=dump, out_file_path=out)]
    return cfg


def _set_visualization(cfg: Config, seg: bool, show: bool, wait_time: float,
                       show_dir: Optional[str]) -> None:
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise ValueError('mmattn tools: --show/--show-dir need a visualization hook: '
                         "default_hooks = dict(visualization=dict(type='"
                         f"{'Seg' if seg else 'Det'}VisualizationHook'))")
    hook.draw = True
    if show:
        hook.show = True
        hook.wait_time = wait_time
    if show_dir is not None:
        if seg:
            cfg.visualizer.save_dir = show_dir
            hook.interval = 1
        else:
            hook.test_out_dir = show_dir


def _set_tta(cfg: Config, seg: bool) -> None:
    if seg:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise ValueError('mmattn tools: --tta needs tta_model and tta_pipeline in the '
                             "config, as mmseg's configs have them (_base_/datasets/*.py)")
    else:
        # mmdet's tool: a horizontal-flip TTA merged by NMS where the config has none.
        cfg.setdefault('tta_model', ConfigDict(
            type='DetTTAModel',
            tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)))
        if 'tta_pipeline' not in cfg:
            data = cfg.test_dataloader.dataset
            while 'dataset' in data:
                data = data['dataset']
            pipeline = copy.deepcopy(data.pipeline)
            pipeline[-1] = dict(type='TestTimeAug', transforms=[
                [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
                [dict(type='PackDetInputs', meta_keys=(
                    'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                    'flip_direction'))]])
            cfg.tta_pipeline = pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def build_runner(cfg: Config):
    """The runner of ``cfg`` (``runner_type`` honoured), with the compat shims applied."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    apply_compat()
    # Registers ValBeforeTrainHook and AutocastOptimWrapper before the runner builds them.
    import mmattn.engine  # noqa: F401
    _init_cpu_process_group(cfg)
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def _init_cpu_process_group(cfg: Config) -> None:
    import torch.distributed as dist
    if (cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available()
            or dist.is_initialized()):
        return
    # torchrun's env:// variables; mmengine then sees an initialised group and skips
    # its own (CUDA-only) initialisation.
    dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']))


def train(cfg: Config):
    """Build the runner of a prepared config and train; returns the runner."""
    runner = build_runner(cfg)
    runner.train()
    return runner


def test(cfg: Config, tool: str = 'tools/test.py') -> dict:
    """Build the runner of a prepared config, refuse a checkpoint whose weights do not fit
    the model's attention modules (:func:`mmattn.models.utils.check_checkpoint_fits`), and
    test; returns the metrics."""
    runner = build_runner(cfg)
    check_fits(runner.model, cfg.load_from, tool)
    return runner.test()


def check_fits(model, checkpoint: str, tool: str) -> None:
    """:func:`~mmattn.models.utils.check_checkpoint_fits` of a checkpoint file, the fix
    naming the ``--attention`` its meta records."""
    from mmengine.model import is_model_wrapper
    state, meta = read_checkpoint(checkpoint)
    record = record_of(meta)
    check_checkpoint_fits(model.module if is_model_wrapper(model) else model, state, tool,
                          osp.basename(checkpoint),
                          ' '.join(record['specs']) if record else '')
