"""Every config under configs/ builds its model and trains it for one iteration.

Each config is loaded with ``Config.fromfile`` (so its ``_base_`` chain and
``custom_imports`` resolve as a user's would), built through the registry of its
``default_scope`` with every pretrained-weight download switched off, and
stepped once on a small synthetic batch (64x64 images; boxes, masks or a
semantic map as the model needs). The losses must be finite, every mmattn module
the config names must be in the model, and every inserted module must receive a
finite gradient. The zoo files must equal what their generator writes.
"""
import importlib
import math

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmattn.config import paper_placements
from mmattn.models import list_attention_modules
from mmattn.registry import ROOT_MODELS
from mmattn.zoo import PRETRAINED_ZOO, zoo_configs, zoo_files
from tests.conftest import CONFIG_DIR

IMAGE_SIZE = 64
BATCH_SIZE = 2  # a BN inside a module sees more than one value per channel in training

CONFIGS = sorted(p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)


def _config_id(path):
    return str(path.relative_to(CONFIG_DIR))


def _no_pretrained(node):
    """Switch off every pretrained-weight download in a model config, in place."""
    if isinstance(node, dict):
        if node.get('pretrained') is not None:
            node['pretrained'] = None
        init_cfg = node.get('init_cfg')
        inits = init_cfg if isinstance(init_cfg, list) else [init_cfg]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in inits):
            node['init_cfg'] = None
        for value in node.values():
            _no_pretrained(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _no_pretrained(value)


def _types_named(node):
    """Every ``type`` string in a config subtree."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield node['type']
        for value in node.values():
            yield from _types_named(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _types_named(value)


def _mmattn_class(type_name):
    name = type_name.split('.', 1)[1] if type_name.startswith('mmattn.') else type_name
    cls = ROOT_MODELS.module_dict.get(name)
    if cls is not None and cls.__module__.split('.')[0] == 'mmattn':
        return cls
    return None


def _det_batch(num_classes, with_masks):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    s = IMAGE_SIZE
    inputs, samples = [], []
    for i in range(BATCH_SIZE):
        img = torch.randint(0, 60, (3, s, s), generator=g, dtype=torch.uint8)
        boxes = [(4 + 6 * i, 8, 40 + 6 * i, 44), (30, 30 - 4 * i, 60, 58)]
        masks = np.zeros((len(boxes), s, s), dtype=np.uint8)
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            img[:, y1:y2, x1:x2] = 200 - 40 * k
            masks[k, y1:y2, x1:x2] = 1
        sample = DetDataSample(metainfo=dict(img_shape=(s, s), ori_shape=(s, s),
                                             scale_factor=(1.0, 1.0), img_id=i))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32),
            labels=torch.tensor([i % num_classes, (i + 1) % num_classes]))
        if with_masks:
            sample.gt_instances.masks = BitmapMasks(masks, s, s)
        inputs.append(img)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def _seg_batch(num_classes):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(0)
    s = IMAGE_SIZE
    inputs, samples = [], []
    for i in range(BATCH_SIZE):
        img = torch.randint(0, 60, (3, s, s), generator=g, dtype=torch.uint8)
        label = torch.zeros((1, s, s), dtype=torch.long)
        label[:, 10 + 4 * i:40, 12:50] = (5 + i) % num_classes
        label[:, 50:, :] = 255  # the ignore index, as ADE20K's reduce_zero_label makes it
        img[:, 10 + 4 * i:40, 12:50] = 180
        sample = SegDataSample(metainfo=dict(img_shape=(s, s), ori_shape=(s, s)))
        sample.gt_sem_seg = PixelData(data=label)
        inputs.append(img)
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def build_model(cfg):
    """The model of a config, as a fresh run builds it, minus downloads and SyncBN."""
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    model_cfg = cfg.model
    _no_pretrained(model_cfg)
    if scope == 'mmseg':
        # Synthetic images are small: pad to them, not to the 512x512 crop.
        model_cfg.data_preprocessor.size = (IMAGE_SIZE, IMAGE_SIZE)
    registry = importlib.import_module(f'{scope}.registry').MODELS
    model = registry.build(model_cfg)
    # The whole model's init_weights() mostly logs per-parameter statistics
    # (seconds per model); PyTorch's default init is enough for one step. The
    # attention modules run their own initialization, as a full run would.
    for module in model.modules():
        if type(module).__module__.split('.')[0] == 'mmattn' and hasattr(module, 'init_weights'):
            module.init_weights()
    # mmseg configs use SyncBN; a single CPU process trains with plain BN, as
    # mmseg's own tools do outside a distributed launch.
    return revert_sync_batchnorm(model)


def _num_classes(node):
    """The smallest ``num_classes`` in a model config (every head can take its labels)."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get('num_classes'), int):
            found.append(node['num_classes'])
        found += [_num_classes(v) for v in node.values()]
    elif isinstance(node, (list, tuple)):
        found += [_num_classes(v) for v in node]
    found = [n for n in found if n is not None]
    return min(found) if found else None


def synthetic_batch(cfg, model):
    num_classes = _num_classes(cfg.model)
    if cfg.get('default_scope', 'mmdet') == 'mmseg':
        return _seg_batch(num_classes)
    return _det_batch(num_classes, bool(getattr(model, 'with_mask', False)))


@pytest.mark.integration
@pytest.mark.parametrize('config', CONFIGS, ids=_config_id)
def test_config_builds_and_trains_one_iteration(config):
    cfg = Config.fromfile(config)
    model = build_model(cfg)
    named = {t for t in _types_named(cfg.model) if _mmattn_class(t) is not None}
    inserted = [(n, m) for n, m in model.named_modules()
                if type(m).__module__.split('.')[0] == 'mmattn']
    for type_name in named:
        cls = _mmattn_class(type_name)
        assert any(isinstance(m, cls) for _, m in inserted), f'{type_name} not in the model'

    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    data = synthetic_batch(cfg, model)
    model.train()
    # model.train_step, unrolled to look at the gradients before the update.
    with optim_wrapper.optim_context(model):
        data = model.data_preprocessor(data, True)
        losses = model._run_forward(data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert all(math.isfinite(float(v.detach())) for v in log_vars.values()), log_vars
    assert float(loss) > 0
    optim_wrapper.backward(loss)
    # Attention modules that are not plugins of one another: every one trains.
    for name, module in inserted:
        if not any(p.requires_grad for p in module.parameters()):
            continue
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        assert grads, f'{name} got no gradient'
        assert all(torch.isfinite(g).all() for g in grads), f'{name}: non-finite gradient'
    optim_wrapper.step()
    optim_wrapper.zero_grad()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_zoo_files_equal_the_generator():
    expected = zoo_files()
    for rel, text in expected.items():
        path = CONFIG_DIR / rel
        assert path.is_file(), f'configs/{rel} missing: run tools/misc/gen_configs.py'
        assert path.read_text(encoding='utf-8') == text, (
            f'configs/{rel} differs from tools/misc/gen_configs.py output')
    # No stale zoo file: every file outside configs/demo/ comes from the generator.
    on_disk = {str(p.relative_to(CONFIG_DIR)) for p in CONFIG_DIR.rglob('*')
               if p.is_file() and p.parts[len(CONFIG_DIR.parts)] != 'demo'
               and '__pycache__' not in p.parts}
    assert on_disk == {rel for rel in expected if not rel.startswith('demo/')}


def test_zoo_covers_every_2d_module_in_each_model():
    expected = {c.path for c in zoo_configs()}
    placements = paper_placements()
    # Each module in each model, each module with ImageNet weights from them, two ASFF configs.
    assert len(expected) == 4 * len(placements) + 4 * len(PRETRAINED_ZOO) + 2
    names = [p.short_name for p in placements.values()]
    assert len(set(names)) == len(names)
    assert all(a == a.lower() and '_' not in a for a in names)
    modules = list_attention_modules()
    for module_type, place in placements.items():
        family = modules[module_type].family
        for rel in (f'{family}/faster-rcnn_r50-{place.short_name}_fpn_1x_coco.py',
                    f'{family}/retinanet_r50-{place.short_name}_fpn_1x_coco.py',
                    f'{family}/mask-rcnn_r50-{place.short_name}_fpn_1x_coco.py',
                    f'{family}/fcn_r50-d8-{place.short_name}_4xb4-80k_ade20k-512x512.py'):
            assert rel in expected
    # Each family folder has its README.md and metafile.yml, as mmdet's configs/<method>/.
    files = zoo_files()
    for family in {c.family for c in zoo_configs()}:
        assert f'{family}/README.md' in files and f'{family}/metafile.yml' in files


def test_every_registered_2d_module_has_a_default_place_and_its_facts():
    modules = list_attention_modules()
    assert set(paper_placements()) == set(modules)
    for name, cls in modules.items():
        assert cls.paper and cls.paper_url.startswith('https://'), name
        assert cls.short_name and cls.family and cls._abbr_, name


def test_asff_config_stacks_asff_on_the_base_fpn(tmp_path):
    stub = tmp_path / 'base.py'
    stub.write_text("_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'\n")
    base = Config.fromfile(str(stub))
    cfg = Config.fromfile(CONFIG_DIR / 'asff' / 'retinanet_r50_fpn-asff_1x_coco.py')
    fpn, asff = cfg.model.neck
    assert fpn == base.model.neck
    assert asff == dict(type='ASFF', in_channels=[256] * 5, out_channels=256)
    # Only the neck differs from the base.
    d, b = cfg.to_dict(), base.to_dict()
    for x in (d, b):
        x['model'].pop('neck')
        x.pop('custom_imports', None)
    assert d == b


def test_yolov3_asff_config_stacks_asff_on_the_base_neck(tmp_path):
    stub = tmp_path / 'base.py'
    stub.write_text("_base_ = 'mmdet::yolo/yolov3_d53_8xb8-ms-608-273e_coco.py'\n")
    base = Config.fromfile(str(stub))
    cfg = Config.fromfile(CONFIG_DIR / 'asff' / 'yolov3_d53_asff_8xb8-ms-608-273e_coco.py')
    neck, asff = cfg.model.neck
    assert neck == base.model.neck and base.model.backbone.type == 'Darknet'
    assert asff == dict(type='ASFF', in_channels=[512, 256, 128], out_channels=[512, 256, 128],
                        coarsest_first=True)
    assert asff.out_channels == base.model.bbox_head.in_channels
    d, b = cfg.to_dict(), base.to_dict()
    for x in (d, b):
        x['model'].pop('neck')
        x.pop('custom_imports', None)
    assert d == b
