"""Figures of the attention maps of validation images, logged beside the losses."""
import os.path as osp
from typing import Optional, Sequence, Tuple

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from mmattn.models.utils import check_positive_int

__all__ = ['AttentionVisHook']


@HOOKS.register_module()
class AttentionVisHook(Hook):
    """Every ``interval``-th validation image: a figure of its attention maps, logged.

    The figure is the one ``tools/analysis_tools/visualize_attention.py`` writes (the
    model's predictions, then every map of every mmattn module: spatial maps overlaid on
    the image, channel gates as sorted bars per stage, query attention of DANetPAM and
    self-attention, ASFF's fusion weights per level), sent with ``add_image`` to the
    runner's visualizer, hence to each of its backends (``LocalVisBackend``: PNG files in
    ``<work_dir>/<timestamp>/vis_data/vis_image/``, ``TensorboardVisBackend``,
    ``WandbVisBackend``), named ``attention_<image file name>``, at the training
    iteration as step. Only the main process draws (as mmdet's visualization hook).
    The hooks that read the maps are attached for the chosen batches only.

    Registered in mmengine's root ``HOOKS``, so any mmdet or mmseg config can use it once
    ``mmattn.engine`` is imported::

        custom_imports = dict(imports=['mmattn', 'mmattn.engine'], allow_failed_imports=False)
        custom_hooks = [dict(type='AttentionVisHook', interval=50)]

    Args:
        interval (int): Draw images ``0, interval, 2 * interval, ...`` of each
            validation run (counted over the main process's images). Default: 50.
        modules (Sequence[str], optional): Module paths or types to show (shell
            patterns, see :func:`mmattn.visualization.find_attention_modules`).
            Default: all.
        stages (Sequence[int], optional): ResNet stages to show. Default: all.
        points (Sequence[tuple[float, float]]): Query pixels of query maps as ``(x, y)``
            fractions of the image width and height. Default: the centre.
        score_thr (float): Detections below this score are not drawn. Default: 0.3.
        test (bool): Also draw during testing. Default: False.
    """

    priority = 'NORMAL'

    def __init__(self,
                 interval: int = 50,
                 modules: Optional[Sequence[str]] = None,
                 stages: Optional[Sequence[int]] = None,
                 points: Sequence[Tuple[float, float]] = ((0.5, 0.5), ),
                 score_thr: float = 0.3,
                 test: bool = False) -> None:
        self.interval = check_positive_int('AttentionVisHook', 'interval', interval)
        self.modules = None if modules is None else list(modules)
        self.stages = None if stages is None else list(stages)
        points = [tuple(p) for p in points]
        if not points or any(len(p) != 2 or not all(0 <= c <= 1 for c in p) for p in points):
            raise ValueError(f'AttentionVisHook: points={points} must be (x, y) fractions of '
                             'the image width and height, in [0, 1]')
        self.points = points
        self.score_thr = score_thr
        self.test = test
        self._seen = 0
        self._chosen: list = []
        self._collector = None
        self._predictions = None

    def _reset(self, runner) -> None:
        self._seen = 0

    before_val_epoch = _reset
    before_test_epoch = _reset

    def _attach(self, runner, data_batch) -> None:
        self._chosen = []
        if not is_main_process() or data_batch is None:
            return
        count = len(data_batch['data_samples'])
        self._chosen = [i for i in range(count) if (self._seen + i) % self.interval == 0]
        if self._chosen:
            from mmattn.visualization import AttentionMapCollector
            self._collector = AttentionMapCollector(runner.model, self.modules, self.stages)
            self._collector.__enter__()

    def _draw(self, runner, data_batch, outputs) -> None:
        if data_batch is not None:
            self._seen += len(data_batch['data_samples'])
        if self._collector is None:
            return
        collector, self._collector = self._collector, None
        collector.__exit__(None, None, None)
        if not collector.modules:
            return
        import mmcv
        from mmengine.fileio import get

        from mmattn.visualization import (attention_figure, build_prediction_visualizer,
                                          draw_predictions)
        if self._predictions is None:
            self._predictions = build_prediction_visualizer(
                runner.cfg.visualizer, runner.visualizer.dataset_meta)
        records = collector.records()
        for i in self._chosen:
            sample = outputs[i]
            path = sample.img_path
            image = mmcv.imfrombytes(get(path), channel_order='rgb')
            predictions = draw_predictions(self._predictions, image, sample, self.score_thr)
            figure, _, _ = attention_figure(records, i, sample, image, self.points,
                                            predictions=predictions,
                                            title=f'{osp.basename(path)}, iteration '
                                            f'{runner.iter}')
            runner.visualizer.add_image(f'attention_{osp.basename(path)}', figure,
                                        step=runner.iter)

    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._attach(runner, data_batch)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._draw(runner, data_batch, outputs)

    def before_test_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.test:
            self._attach(runner, data_batch)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.test:
            self._draw(runner, data_batch, outputs)
