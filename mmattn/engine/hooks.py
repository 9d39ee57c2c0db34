"""Hooks the demo and the tools use."""
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmattn.config import RECORD_KEY, record_of

__all__ = ['ValBeforeTrainHook', 'AttentionRecordHook']


@HOOKS.register_module()
class AttentionRecordHook(Hook):
    """Copy the config's ``--attention`` record into every checkpoint's ``meta``.

    ``tools/train.py --attention SPEC ...`` (and a sweep's derived config) records the specs
    in the config (``mmattn_attention``); with this hook each checkpoint carries them, so
    ``tools/test.py``, ``visualize_attention.py`` and ``benchmark.py model --checkpoint``
    rebuild the model it was trained with from the base config alone. mmattn's
    ``tools/train.py`` adds it; in a config of your own:
    ``custom_hooks = [dict(type='AttentionRecordHook')]``.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        record = record_of(runner.cfg)
        if record is not None:
            checkpoint.setdefault('meta', {})[RECORD_KEY] = record


@HOOKS.register_module()
class ValBeforeTrainHook(Hook):
    """Validate once before the first training iteration; compare with the last score.

    The metrics of the initial weights are logged at step 0. When training ends, one log
    line puts each metric at iteration 0 next to its value at the last validation, so a
    run shows what it learned. On a resumed run (``runner.iter > 0`` at the start) it
    validates nothing before training.

    Registered in mmengine's root ``HOOKS``, so ``custom_hooks=[dict(type='ValBeforeTrainHook')]``
    resolves from the mmdet and mmseg scopes once ``mmattn.engine`` is imported (e.g. by
    ``custom_imports``).

    Args:
        keys (tuple[str], optional): Metrics to compare at the end; None compares every
            metric the evaluator returns. Defaults to None.
    """

    priority = 'LOW'

    def __init__(self, keys: Optional[tuple] = None) -> None:
        self.keys = keys
        self.first: Optional[Dict[str, float]] = None
        self.last: Optional[Dict[str, float]] = None
        self.first_iter = self.last_iter = 0

    def before_train(self, runner) -> None:
        if runner.val_loop is None or runner.iter > 0:
            return
        runner.val_loop.run()

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not metrics:
            return
        if self.first is None:
            self.first, self.first_iter = dict(metrics), runner.iter
        self.last, self.last_iter = dict(metrics), runner.iter

    def after_train(self, runner) -> None:
        if self.first is None or self.last_iter == self.first_iter:
            return
        keys = self.keys or [k for k in self.first if isinstance(self.first[k], (int, float))]
        lines = [f'{k}: {self.first[k]:.4f} at iteration {self.first_iter} -> '
                 f'{self.last[k]:.4f} at iteration {self.last_iter}'
                 for k in keys if k in self.last]
        runner.logger.info('Validation before and after training:\n' + '\n'.join(lines))
