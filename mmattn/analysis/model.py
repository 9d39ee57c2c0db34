"""Model mode: what a config's attention costs inside a whole detector or segmentor.

The config is built twice: as written, and with its attention removed
(:func:`strip_attention`). Both get the same synthetic batch (random images of
the given size with one box, or one label map), and the measurements are:

* ``params``; ``flops`` (mmattn's rules) and ``flops_mmengine`` (mmengine's
  default counter) of the network's forward in ``mode='tensor'`` (backbone,
  neck and head outputs; no pre- or post-processing) on one preprocessed
  batch;
* ``infer_*``: that tensor-mode forward, ``eval()``, ``torch.no_grad()``;
* ``train_*``: one ``model.train_step(batch, optim_wrapper)`` with the
  config's optimizer: preprocessing, forward, losses, backward, step;
* ``infer_mem``/``train_mem``: peak bytes as in :mod:`mmattn.analysis.measure`.

The backbone's ``init_cfg`` is dropped (no pretrained download): numbers do
not depend on the weights' values. ``share`` is what the attention adds,
``(with - without) / with``.
"""
import copy
import importlib
import logging
from collections import Counter
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmattn.config import compose_config, no_pretrained, strip_attention
from mmattn.models.utils import read_checkpoint
from .flops import count_flops
from .measure import peak_memory, time_call


def build_model(cfg, model_cfg: dict) -> nn.Module:
    """Build ``model_cfg`` in the config's default scope, initialized without downloads."""
    from mmengine.registry import init_default_scope
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    from mmengine.config import ConfigDict
    model_cfg = copy.deepcopy(model_cfg)
    no_pretrained(model_cfg)
    # A ConfigDict, as the runner builds from: mmdet's two-stage detectors read
    # train_cfg.rpn and test_cfg.rcnn as attributes.
    model = registry.build(ConfigDict(model_cfg))
    # init_weights logs every parameter's initializer at INFO: keep stdout for the table.
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def is_segmentor(model: nn.Module) -> bool:
    return type(model).__module__.startswith('mmseg')


def synthetic_batch(model: nn.Module, size: Sequence[int], batch_size: int = 2,
                    num_classes: int = 80) -> Dict[str, Any]:
    """Random uint8 images of ``size`` (H, W) with targets the model's losses accept.

    Detectors: one box per image (the bright rectangle drawn in it), and a
    mask when the model has a mask head. Segmentors: a label map with that
    rectangle as class 1.
    """
    from mmengine.structures import InstanceData, PixelData
    h, w = size
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(batch_size):
        img = torch.randint(0, 60, (3, h, w), generator=g, dtype=torch.uint8)
        x1, y1, x2, y2 = w // 5, h // 4, max(w // 5 + w // 2, w // 5 + 1), max(
            h // 4 + h // 2, h // 4 + 1)
        img[:, y1:y2, x1:x2] = 220
        meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                    scale_factor=(1.0, 1.0), img_id=i)
        if is_segmentor(model):
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            label = torch.zeros((1, h, w), dtype=torch.long)
            label[:, y1:y2, x1:x2] = 1
            sample.gt_sem_seg = PixelData(data=label)
        else:
            from mmdet.structures import DetDataSample
            sample = DetDataSample(metainfo=meta)
            instances = InstanceData(
                bboxes=torch.tensor([[x1, y1, x2, y2]], dtype=torch.float32),
                labels=torch.tensor([i % num_classes]))
            roi_head = getattr(model, 'roi_head', None)
            if getattr(model, 'with_mask', False) or getattr(roi_head, 'with_mask', False):
                from mmdet.structures.mask import BitmapMasks
                mask = torch.zeros((1, h, w), dtype=torch.uint8)
                mask[:, y1:y2, x1:x2] = 1
                instances.masks = BitmapMasks(mask.numpy(), h, w)
            sample.gt_instances = instances
        inputs.append(img)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


class TensorForward(nn.Module):
    """``model(inputs, data_samples, mode='tensor')`` as a one-input module, for tracing."""

    def __init__(self, model: nn.Module, data_samples: Any) -> None:
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor) -> Any:
        return self.model(inputs, self.data_samples, mode='tensor')


def _attention_counts(with_model: nn.Module, without_model: nn.Module) -> Dict[str, int]:
    """Registered types the attention added (absent from the bare model), by instances.

    torch.nn layers (registered too, by mmcv) are parts, not attention types.
    """
    from mmengine.registry import MODELS
    bare = {type(m) for m in without_model.modules()}
    added = Counter(type(m).__name__ for m in with_model.modules()
                    if type(m) not in bare and not type(m).__module__.startswith('torch.')
                    and MODELS.get(type(m).__name__) is type(m))
    return dict(sorted(added.items()))


def measure_model(cfg, model_cfg: dict, size: Sequence[int], device: str = 'cpu',
                  batch_size: int = 2, warmup: int = 1, repeats: int = 5,
                  max_time: float = 30.0, train: bool = True,
                  memory: bool = True) -> Tuple[Dict[str, Any], nn.Module]:
    """One config variant: params, FLOPs, inference and training times; the row and model."""
    from mmengine.optim import build_optim_wrapper
    dev = torch.device(device)
    torch.manual_seed(0)
    model = build_model(cfg, model_cfg).to(dev)
    row: Dict[str, Any] = dict(params=sum(p.numel() for p in model.parameters()))
    num_classes = _num_classes(model_cfg)
    batch = synthetic_batch(model, size, batch_size, num_classes)
    errors = []
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    net = TensorForward(model, data['data_samples']).eval()
    row['input_shape'] = list(data['inputs'].shape)
    try:
        result = count_flops(net, data['inputs'])
        row['flops'] = result['total']
        row['flops_unsupported'] = result['unsupported']
        row['flops_mmengine'] = count_flops(net, data['inputs'], extra_handles=False)['total']
    except Exception as exc:
        errors.append(f'flops: {type(exc).__name__}: {exc}')

    def infer():
        with torch.no_grad():
            return net(data['inputs'])

    timing = time_call(infer, dev, warmup, repeats, min_repeats=1, max_time=max_time)
    row.update({f'infer_{k}': v for k, v in timing.items()})
    if memory:
        row['infer_mem'] = peak_memory(infer, dev)
    if train:
        optim_wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
        model.train()

        def step():
            return model.train_step(copy.deepcopy(batch), optim_wrapper)

        timing = time_call(step, dev, warmup, repeats, min_repeats=1, max_time=max_time)
        row.update({f'train_{k}': v for k, v in timing.items()})
        if memory:
            row['train_mem'] = peak_memory(step, dev)
    if errors:
        row['error'] = '; '.join(errors)
    return row, model


def _num_classes(model_cfg: dict) -> int:
    stack = [model_cfg]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get('num_classes'), int):
                return item['num_classes']
            stack += list(item.values())
        elif isinstance(item, (list, tuple)):
            stack += list(item)
    return 1


def run_model(config: str, size: Sequence[int] = (800, 1333), device: str = 'cpu',
              batch_size: int = 2, warmup: int = 1, repeats: int = 5, max_time: float = 30.0,
              train: bool = True, memory: bool = True,
              cfg_options: Optional[dict] = None,
              progress: Optional[Callable[[str], None]] = None,
              attention: Optional[Sequence[str]] = None,
              checkpoint: Optional[str] = None) -> Dict[str, Any]:
    """Model mode for one config: rows ``with`` and ``without`` attention, and the shares.

    The config is composed as every mmattn tool composes it
    (:func:`mmattn.config.compose_config`): ``attention`` (``--attention``) or, for a config
    without attention, the attention ``checkpoint``'s meta records, then ``cfg_options``.
    The checkpoint's weights are not loaded: the numbers do not depend on them.

    Returns a dict with ``config``, ``removed`` (what stripping took out),
    ``added_modules`` (module classes present only with attention, counted),
    ``rows`` (two) and ``share`` (per measured quantity, what attention adds
    as a fraction of the full model's value).
    """
    from mmengine.config import Config

    from mmattn.files import config_file, existing_file
    cfg = Config.fromfile(config_file('benchmark.py model', config))
    meta = None
    if checkpoint is not None and not attention:
        meta = read_checkpoint(existing_file('benchmark.py model', '--checkpoint',
                                             checkpoint))[1]
    compose_config(cfg, attention, False, meta, cfg_options, 'benchmark.py model')
    full_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    bare_cfg, removed = strip_attention(full_cfg)
    kwargs = dict(size=size, device=device, batch_size=batch_size, warmup=warmup,
                  repeats=repeats, max_time=max_time, train=train, memory=memory)
    row_with, model_with = measure_model(cfg, full_cfg, **kwargs)
    if progress is not None:
        progress('with attention')
    row_without, model_without = measure_model(cfg, bare_cfg, **kwargs)
    if progress is not None:
        progress('without attention')
    added = _attention_counts(model_with, model_without)
    del model_with, model_without
    row_with.update(variant='with attention', config=config)
    row_without.update(variant='without attention', config=config)
    share = {}
    for key in ('params', 'flops', 'flops_mmengine', 'infer_median_ms', 'train_median_ms',
                'infer_mem', 'train_mem'):
        a, b = row_with.get(key), row_without.get(key)
        if a and b is not None:
            share[key] = (a - b) / a
    return dict(config=config, size=list(size), batch_size=batch_size, removed=removed,
                added_modules=added, rows=[row_with, row_without], share=share)


__all__ = ['TensorForward', 'build_model', 'measure_model', 'run_model', 'synthetic_batch']
