"""Training and testing logic behind ``tools/``: entry functions, hooks, optim wrappers.

Importing this package (``import mmattn`` does) registers ``ValBeforeTrainHook``,
``AttentionRecordHook``, ``AttentionVisHook``, ``AutocastOptimWrapper`` and
``CPUDistributedDataParallel`` in mmengine's root registries.
"""
from .attention_vis_hook import AttentionVisHook
from .ddp import CPUDistributedDataParallel
from .entry import (LAUNCHERS, add_launch_arguments, build_runner, load_config, parse_launch_args,
                    setup_test_cfg, setup_train_cfg, test, train)
from .hooks import AttentionRecordHook, ValBeforeTrainHook
from .optim_wrapper import AutocastOptimWrapper

__all__ = ['LAUNCHERS', 'add_launch_arguments', 'parse_launch_args', 'load_config',
           'setup_train_cfg', 'setup_test_cfg', 'build_runner', 'train', 'test',
           'ValBeforeTrainHook', 'AttentionRecordHook', 'AttentionVisHook', 'AutocastOptimWrapper',
           'CPUDistributedDataParallel']
