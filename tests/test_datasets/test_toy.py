"""Toy data sets: deterministic from a seed, valid COCO / ADE20K, loadable by mmdet / mmseg."""
import filecmp
import json
import os

import cv2
import numpy as np
import pytest

from mmattn.datasets import TOY_ADE20K_CLASSES, TOY_COCO_CLASSES, make_toy_ade20k, make_toy_coco

# pycocotools 2.0 on numpy 2 (third-party noise).
pytestmark = pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


def _same_tree(a, b):
    files = _tree(a)
    assert files == _tree(b)
    _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors


def test_coco_same_seed_same_files_other_seed_other_images(tmp_path):
    kw = dict(num_train=3, num_val=2, img_size=64)
    make_toy_coco(str(tmp_path / 'a'), seed=5, **kw)
    make_toy_coco(str(tmp_path / 'b'), seed=5, **kw)
    make_toy_coco(str(tmp_path / 'c'), seed=6, **kw)
    _same_tree(tmp_path / 'a', tmp_path / 'b')
    assert not filecmp.cmp(tmp_path / 'a/train/000000.png', tmp_path / 'c/train/000000.png',
                           shallow=False)
    # Asking for more images leaves the first ones unchanged.
    make_toy_coco(str(tmp_path / 'd'), seed=5, num_train=5, num_val=2, img_size=64)
    assert filecmp.cmp(tmp_path / 'a/train/000002.png', tmp_path / 'd/train/000002.png',
                       shallow=False)


@pytest.mark.parametrize('mask_format', ['polygon', 'rle'])
def test_coco_annotations_are_valid_and_match_the_pixels(tmp_path, mask_format):
    from pycocotools.coco import COCO
    files = make_toy_coco(str(tmp_path), seed=0, num_train=6, num_val=2, img_size=96,
                          mask_format=mask_format)
    coco = COCO(files['train'])
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(TOY_COCO_CLASSES)
    assert len(coco.getImgIds()) == 6
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= 6  # at least one shape per image
    for ann in anns:
        mask = coco.annToMask(ann)
        assert mask.sum() == ann['area'] > 0
        ys, xs = np.nonzero(mask)
        x, y, w, h = ann['bbox']
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + w, y + h)
        assert ann['iscrowd'] == 0
        img = cv2.imread(str(tmp_path / 'train' / coco.imgs[ann['image_id']]['file_name']))
        inside = img[mask.astype(bool)].astype(float).mean(0)
        # The shape's colour is its class's (BGR on disk): its hue channel dominates.
        dominant = {1: 2, 2: 1, 3: 0}[ann['category_id']]
        assert inside.argmax() == dominant
    # Shapes do not overlap, so each mask is exact (no occlusion).
    for img_id in coco.getImgIds():
        masks = [coco.annToMask(a) for a in coco.loadAnns(coco.getAnnIds(imgIds=img_id))]
        assert np.sum(masks, axis=0).max() <= 1


def test_coco_loads_in_mmdet_cocodataset(tmp_path):
    from mmdet.datasets import CocoDataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    make_toy_coco(str(tmp_path), seed=0, num_train=4, num_val=2, img_size=64)
    ds = CocoDataset(
        data_root=str(tmp_path), ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), metainfo=dict(classes=TOY_COCO_CLASSES),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                  dict(type='PackDetInputs')])
    assert len(ds) == 4
    sample = ds[0]['data_samples']
    assert sample.gt_instances.bboxes.shape[0] == len(sample.gt_instances.labels) >= 1
    assert sample.gt_instances.masks.masks.shape[1:] == (64, 64)


def test_ade20k_same_seed_same_files_and_labels(tmp_path):
    make_toy_ade20k(str(tmp_path / 'a'), seed=3, num_train=3, num_val=1, img_size=48)
    make_toy_ade20k(str(tmp_path / 'b'), seed=3, num_train=3, num_val=1, img_size=48)
    _same_tree(tmp_path / 'a', tmp_path / 'b')
    assert _tree(tmp_path / 'a') == [
        'annotations/training/000000.png', 'annotations/training/000001.png',
        'annotations/training/000002.png', 'annotations/validation/000000.png',
        'images/training/000000.jpg', 'images/training/000001.jpg',
        'images/training/000002.jpg', 'images/validation/000000.jpg']
    label = cv2.imread(str(tmp_path / 'a/annotations/training/000000.png'),
                       cv2.IMREAD_UNCHANGED)
    assert label.shape == (48, 48) and label.dtype == np.uint8
    assert set(np.unique(label)) <= set(TOY_ADE20K_CLASSES.values())
    assert 0 not in label  # no "other" pixel: nothing is ignored after reduce_zero_label


def test_ade20k_loads_in_mmseg_with_reduce_zero_label(tmp_path):
    from mmengine.registry import init_default_scope
    from mmseg.datasets import ADE20KDataset
    init_default_scope('mmseg')
    make_toy_ade20k(str(tmp_path), seed=0, num_train=2, num_val=1, img_size=48)
    ds = ADE20KDataset(
        data_root=str(tmp_path),
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations', reduce_zero_label=True),
                  dict(type='PackSegInputs')])
    assert len(ds) == 2 and len(ds.metainfo['classes']) == 150
    seg = ds[0]['data_samples'].gt_sem_seg.data
    values = set(seg.unique().tolist())
    assert values <= {v - 1 for v in TOY_ADE20K_CLASSES.values()}
    classes = ds.metainfo['classes']
    assert {classes[v] for v in values} <= set(TOY_ADE20K_CLASSES)


def test_argument_errors_name_the_function_and_rule(tmp_path):
    with pytest.raises(ValueError, match='make_toy_coco: img_size=16 must be >= 32'):
        make_toy_coco(str(tmp_path), img_size=16)
    with pytest.raises(TypeError, match='make_toy_ade20k: num_train=2.5 must be an int'):
        make_toy_ade20k(str(tmp_path), num_train=2.5)
    with pytest.raises(ValueError, match="mask_format='bitmap' must be"):
        make_toy_coco(str(tmp_path), mask_format='bitmap')
    with pytest.raises(ValueError, match="split 'test' must be"):
        make_toy_ade20k(str(tmp_path), splits=['test'])


def test_make_toy_data_tool_writes_both_sets(tmp_path):
    from tests.conftest import REPO_ROOT, run_fresh_python
    code = (
        'import sys\n'
        f'sys.argv = ["make_toy_data.py", "all", "--out-dir", {str(tmp_path)!r},\n'
        '            "--num-train", "2", "--num-val", "1", "--img-size", "32"]\n'
        f'exec(open({str(REPO_ROOT / "tools" / "make_toy_data.py")!r}).read())\n')
    out = run_fresh_python(code)
    assert 'toy COCO (seed 0)' in out and 'toy ADE20K (seed 0)' in out
    with open(tmp_path / 'toy_coco/annotations/instances_val.json') as f:
        assert len(json.load(f)['images']) == 1
    assert len(os.listdir(tmp_path / 'toy_ade/images/training')) == 2
