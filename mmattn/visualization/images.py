"""Run a detector or segmentor on images and draw its attention: what
``tools/analysis_tools/visualize_attention.py`` does, and what :class:`AttentionVisHook`
draws during validation.

The model comes from mmdet's or mmseg's own inference API (``init_detector`` /
``inference_detector``, ``init_model`` / ``inference_model``), so images go through the
config's test pipeline exactly as in testing; the predictions are drawn by the config's
visualizer (``DetLocalVisualizer``, ``SegLocalVisualizer``).
"""
import copy
import inspect
import json
import logging
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch.nn as nn
from mmengine.config import Config

from mmattn.config import compose_config, record_of
from mmattn.files import config_file, existing_file
from mmattn.models.utils import check_checkpoint_fits, read_checkpoint
from .collector import AttentionMapCollector, CapturedMap
from .figure import (ImageGeometry, build_panels, image_panel, module_names, panel_summary,
                     render_figure)

__all__ = ['init_model', 'build_prediction_visualizer', 'draw_predictions',
           'attention_figure', 'visualize_images']

_TOOL = 'visualize_attention'


def init_model(config, checkpoint: Optional[str] = None, device: str = 'cpu',
               cfg_options: Optional[dict] = None, attention: Optional[Sequence[str]] = None,
               identity_init: bool = False, tool: str = _TOOL) -> Tuple[nn.Module, str]:
    """The model of an mmdet or mmseg config (its ``default_scope`` decides), in eval mode,
    with the checkpoint's weights (None: the config's initialisation), and the task.

    The config is composed as every mmattn tool composes it
    (:func:`mmattn.config.compose_config`): ``attention`` (``--attention``), or the
    attention the checkpoint's meta records when the config has none, then
    ``cfg_options``. A checkpoint whose weights do not fit the model's attention modules is
    refused (:func:`mmattn.models.utils.check_checkpoint_fits`).
    """
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    state = meta = None
    if checkpoint is not None:
        state, meta = read_checkpoint(checkpoint)  # with mmattn's checkpoint allow-list
    compose_config(cfg, attention, identity_init, None if attention else meta, cfg_options,
                   tool)
    task = 'mmseg' if cfg.get('default_scope') == 'mmseg' else 'mmdet'
    if task == 'mmseg':
        from mmseg.apis import init_model as init_segmentor
        model = init_segmentor(cfg, checkpoint, device=device)
    else:
        from mmdet.apis import init_detector
        model = init_detector(cfg, checkpoint, device=device)
    if checkpoint is not None:
        record = record_of(meta)
        check_checkpoint_fits(model, state, tool, osp.basename(checkpoint),
                              ' '.join(record['specs']) if record else '')
    if checkpoint is None:
        # The APIs fall back to COCO or Cityscapes classes; the config's own are right.
        from mmengine.registry import DATASETS
        dataset_cfg = copy.deepcopy(cfg.test_dataloader.dataset)
        dataset_cfg['lazy_init'] = True
        meta = DATASETS.build(dataset_cfg).metainfo
        model.dataset_meta = {k.lower(): v for k, v in meta.items()
                              if k.lower() in ('classes', 'palette')}
    return model, task


def _inference(model: nn.Module, task: str, image_path: str, pipeline=None):
    if task == 'mmseg':
        from mmseg.apis import inference_model
        return inference_model(model, image_path)
    from mmdet.apis import inference_detector
    return inference_detector(model, image_path, test_pipeline=pipeline)


def _detection_pipeline(model: nn.Module):
    """The config's test pipeline without its annotation loading (images have none here)."""
    from mmcv.transforms import Compose
    from mmdet.utils import get_test_pipeline_cfg
    pipeline = [t for t in get_test_pipeline_cfg(model.cfg.copy())
                if 'LoadAnnotations' not in t['type']]
    return Compose(pipeline)


def build_prediction_visualizer(visualizer_cfg: dict, dataset_meta: Optional[dict] = None):
    """A visualizer of the config's type (``DetLocalVisualizer``, ``SegLocalVisualizer``)
    without storage backends: it only draws, so drawing the predictions into a figure does
    not also log them as an image of their own."""
    from mmengine.registry import VISUALIZERS
    cfg = dict(visualizer_cfg)
    cfg.update(name=f'mmattn_predictions_{id(cfg)}', vis_backends=None, save_dir=None)
    visualizer = VISUALIZERS.build(cfg)
    if dataset_meta is not None:
        visualizer.dataset_meta = dataset_meta
    return visualizer


def draw_predictions(visualizer, image: np.ndarray, data_sample,
                     score_thr: float = 0.3) -> np.ndarray:
    """The data sample's predictions drawn on ``image`` (RGB) by ``visualizer``."""
    kwargs = dict(draw_gt=False, show=False)
    if 'pred_score_thr' in inspect.signature(visualizer.add_datasample).parameters:
        kwargs['pred_score_thr'] = score_thr
    visualizer.add_datasample('predictions', image, data_sample, **kwargs)
    return visualizer.get_image()


def attention_figure(records: Sequence[CapturedMap],
                     sample: int,
                     data_sample,
                     image: np.ndarray,
                     points: Optional[Sequence[Tuple[float, float]]] = None,
                     points_in_pixels: bool = False,
                     predictions: Optional[np.ndarray] = None,
                     title: Optional[str] = None) -> Tuple[np.ndarray, list, dict]:
    """The figure of one image: its predictions, then every map recorded for it.

    Args:
        records: What an :class:`AttentionMapCollector` recorded for the batch.
        sample (int): The image's index in the batch.
        data_sample: Its mmdet/mmseg data sample (for where it sits in the input).
        image (np.ndarray): The image, RGB, at its original size.
        points: Query pixels of query maps (see :func:`build_panels`). Default: centre.
        points_in_pixels (bool): Whether ``points`` are pixels or fractions.
        predictions (np.ndarray, optional): The predictions drawn on the image.
        title (str, optional): The figure's title.

    Returns:
        tuple: The figure (RGB array), its panels and the numbers behind them.
    """
    geometry = ImageGeometry.from_metainfo(data_sample.metainfo)
    panels, numbers = build_panels(records, sample, geometry, image,
                                   points or [(0.5, 0.5)], points_in_pixels and bool(points))
    if predictions is not None:
        panels.insert(0, image_panel(predictions, 'predictions'))
    return render_figure(panels, title=title), panels, numbers


def _unique_stems(paths: Sequence[str]) -> List[str]:
    stems, seen = [], {}
    for path in paths:
        stem = osp.splitext(osp.basename(path))[0]
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f'{stem}_{seen[stem]}')
    return stems


def visualize_images(config,
                     checkpoint: Optional[str],
                     images: Sequence[str],
                     out_dir: str,
                     modules: Optional[Sequence[str]] = None,
                     stages: Optional[Sequence[int]] = None,
                     points: Optional[Sequence[Tuple[float, float]]] = None,
                     device: str = 'cpu',
                     score_thr: float = 0.3,
                     index: str = 'md',
                     cfg_options: Optional[dict] = None,
                     attention: Optional[Sequence[str]] = None,
                     identity_init: bool = False) -> List[Dict]:
    """Run the model of ``config`` on ``images`` and write, per image, a figure of its
    attention maps and predictions (``<stem>.png``), the numbers behind it
    (``<stem>.npz``, see :func:`build_panels`), what each panel shows (``<stem>.json``),
    and an index of the figures (``index.md`` or ``index.html``).

    Args:
        config: An mmdet or mmseg config (path or ``Config``).
        checkpoint (str, optional): Its weights; None keeps the config's initialisation.
        images (Sequence[str]): Image files.
        out_dir (str): Where to write.
        modules, stages: Which modules to show (see :func:`find_attention_modules`).
        points: Query pixels ``(x, y)`` of the images for query maps (DANetPAM, MHSA).
            Default: each image's centre.
        device (str): ``'cpu'`` or ``'cuda'``.
        score_thr (float): Detections below this score are not drawn.
        index (str): ``'md'`` or ``'html'``.
        cfg_options (dict, optional): Config overrides (applied after ``attention``).
        attention (Sequence[str], optional): ``--attention`` module specs, as
            ``tools/train.py`` takes them; without them, a checkpoint written by
            ``tools/train.py --attention`` brings its own back.
        identity_init (bool): ``--identity-init``.

    Returns:
        list[dict]: Per image: ``image``, ``figure``, ``numbers``, ``panels`` (paths),
        ``modules`` (the module paths shown), ``seconds`` (inference, drawing and
        writing) and ``inference_seconds`` (the model's forward pass with the hooks).
    """
    import mmcv
    if index not in ('md', 'html'):
        raise ValueError(f"visualize_attention: index={index!r} must be 'md' or 'html'")
    if not images:
        raise ValueError('visualize_attention: no images given')
    # Every file first: not a traceback after the model is built (MissingFileError).
    if not isinstance(config, Config):
        config = config_file(_TOOL, config)
    if checkpoint is not None:
        existing_file(_TOOL, 'CHECKPOINT', checkpoint)
    for image in images:
        existing_file(_TOOL, 'IMAGE', image)
    model, task = init_model(config, checkpoint, device, cfg_options, attention, identity_init)
    pipeline = _detection_pipeline(model) if task == 'mmdet' else None
    if task == 'mmseg' and (model.cfg.model.get('test_cfg') or {}).get('mode') == 'slide':
        from mmengine.logging import print_log
        print_log("visualize_attention: the config's test_cfg mode is 'slide': the model runs "
                  'once per window, so each map is one window\'s, drawn as if it covered the '
                  "image; use --cfg-options model.test_cfg.mode=whole", logger='current',
                  level=logging.WARNING)
    visualizer_cfg = model.cfg.get('visualizer', None)
    # A config without a visualizer gets figures without the predictions panel.
    visualizer = visualizer_cfg and build_prediction_visualizer(
        visualizer_cfg, getattr(model, 'dataset_meta', None))
    os.makedirs(out_dir, exist_ok=True)
    results = []
    with AttentionMapCollector(model, modules, stages) as collector:
        if not collector.modules:
            raise ValueError('visualize_attention: the model has no mmattn module with maps'
                             + (f' matching modules={list(modules)}' if modules else '')
                             + (f' in stages={list(stages)}' if stages else '')
                             + ('' if modules or stages else
                                '; put modules in with --attention, as tools/train.py does'))
        for path, stem in zip(images, _unique_stems(images)):
            start = time.perf_counter()
            collector.clear()
            data_sample = _inference(model, task, path, pipeline)
            inference = time.perf_counter() - start
            image = mmcv.imread(path, channel_order='rgb')
            predictions = visualizer and draw_predictions(visualizer, image, data_sample,
                                                          score_thr)
            figure, panels, numbers = attention_figure(
                collector.records(), 0, data_sample, image, points, points_in_pixels=True,
                predictions=predictions, title=osp.basename(path))
            files = {key: osp.join(out_dir, f'{stem}.{ext}')
                     for key, ext in (('figure', 'png'), ('numbers', 'npz'), ('panels', 'json'))}
            mmcv.imwrite(figure[..., ::-1], files['figure'])
            np.savez(files['numbers'], **numbers)
            seconds = time.perf_counter() - start
            shown = module_names(panels)
            with open(files['panels'], 'w') as f:
                json.dump(dict(image=path, seconds=seconds, inference_seconds=inference,
                               modules=shown, panels=panel_summary(panels)), f, indent=1)
            results.append(dict(image=path, seconds=seconds, inference_seconds=inference,
                                modules=shown, **files))
    _write_index(results, out_dir, index, config, checkpoint)
    return results


def _write_index(results: List[Dict], out_dir: str, fmt: str, config, checkpoint) -> str:
    config_name = config if isinstance(config, str) else getattr(config, 'filename', 'config')
    lines = []
    for r in results:
        figure = osp.basename(r['figure'])
        modules = ', '.join(r['modules'])
        lines.append((osp.basename(r['image']), figure, osp.basename(r['numbers']),
                      osp.basename(r['panels']), modules, r['seconds']))
    if fmt == 'md':
        text = [f'# Attention maps\n\n`{config_name}`, weights `{checkpoint}`.\n']
        for image, figure, numbers, panels, modules, seconds in lines:
            text.append(f'## {image}\n\n![{image}]({figure})\n\nModules: {modules}. '
                        f'Numbers: [{numbers}]({numbers}), panels: [{panels}]({panels}); '
                        f'{seconds:.2f} s for inference and drawing.\n')
        path = osp.join(out_dir, 'index.md')
    else:
        import html
        text = [f'<html><head><meta charset="utf-8"><title>Attention maps</title></head>'
                f'<body><h1>Attention maps</h1><p><code>{html.escape(str(config_name))}'
                f'</code>, weights <code>{html.escape(str(checkpoint))}</code>.</p>']
        for image, figure, numbers, panels, modules, seconds in lines:
            text.append(f'<h2>{html.escape(image)}</h2><img src="{html.escape(figure)}" '
                        f'style="max-width:100%"><p>Modules: {html.escape(modules)}. Numbers: '
                        f'<a href="{numbers}">{numbers}</a>, panels: <a href="{panels}">'
                        f'{panels}</a>; {seconds:.2f} s for inference and drawing.</p>')
        text.append('</body></html>')
        path = osp.join(out_dir, 'index.html')
    with open(path, 'w') as f:
        f.write('\n'.join(text))
    return path
