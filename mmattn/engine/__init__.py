"""Training and testing logic behind ``tools/``: entry functions, hooks, optim wrappers.

Importing this package registers ``ValBeforeTrainHook`` and ``AutocastOptimWrapper`` in
mmengine's root registries (``import mmattn`` alone does not).
"""
from .entry import (LAUNCHERS, build_runner, load_config, setup_test_cfg, setup_train_cfg, test,
                    train)
from .hooks import ValBeforeTrainHook
from .optim_wrapper import AutocastOptimWrapper

__all__ = ['LAUNCHERS', 'load_config', 'setup_train_cfg', 'setup_test_cfg', 'build_runner',
           'train', 'test', 'ValBeforeTrainHook', 'AutocastOptimWrapper']
