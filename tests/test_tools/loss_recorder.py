"""A test-only hook: every rank writes its logged losses to ``losses_rank<r>.json``."""
import json
import os.path as osp

from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class LossRecorderHook(Hook):

    def __init__(self) -> None:
        self.losses = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.losses[runner.iter + 1] = float(outputs['loss'])

    def after_train(self, runner) -> None:
        path = osp.join(runner.work_dir, f'losses_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(self.losses, f)
