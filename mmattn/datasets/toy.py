"""Toy data sets, rendered deterministically from a seed, for demos and tests.

Two generators write small data sets in the formats mmdet and mmseg read without any
adapter:

- :func:`make_toy_coco`: COCO-format instance detection / segmentation. Each image holds
  one to a few non-overlapping filled shapes (rectangles, ellipses, triangles) on a noisy
  background; each shape has its box and its exact polygon (or RLE) mask.
- :func:`make_toy_ade20k`: ADE20K-format semantic segmentation (``images/training``,
  ``annotations/training``, ...), label maps in ADE20K's 150-class convention with 0 as
  "other", for mmseg's ``ADE20KDataset`` with ``reduce_zero_label=True``.

Every image is drawn from its own generator seeded by ``(seed, split, index)``, so a data
set is the same file for file on every run, and the first images do not change when more
are asked for.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = ['TOY_COCO_CLASSES', 'TOY_ADE20K_CLASSES', 'make_toy_coco', 'make_toy_ade20k']

SHAPES = ('rectangle', 'ellipse', 'triangle')

# Detection: one class per shape. Each class also has its own hue (jittered) so that a
# small detector trained for a few hundred iterations on CPU learns it reliably.
TOY_COCO_CLASSES: Tuple[str, ...] = SHAPES
_COCO_CLASS_COLORS = ((220, 60, 50), (60, 200, 70), (70, 90, 230))  # RGB

# Segmentation: ADE20K label values (1-based, 0 = "other") for the two background
# regions and the three shapes; names are ADE20K's.
TOY_ADE20K_CLASSES: Dict[str, int] = {
    'sky': 3, 'floor': 4, 'box': 42, 'ball': 120, 'tent': 115}
_ADE_SHAPE_LABELS = {'rectangle': 42, 'ellipse': 120, 'triangle': 115}
_ADE_COLORS = {3: (140, 180, 230), 4: (120, 100, 80), 42: (200, 150, 60),
               120: (220, 60, 60), 115: (60, 180, 90)}  # RGB

_SPLIT_IDS = {'train': 0, 'val': 1}
_ADE_SPLIT_DIRS = {'train': 'training', 'val': 'validation'}


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _SPLIT_IDS[split], index])


def _check_args(name: str, img_size: int, num_train: int, num_val: int) -> None:
    for arg, value, low in (('img_size', img_size, 32), ('num_train', num_train, 1),
                            ('num_val', num_val, 1)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f'{name}: {arg}={value!r} must be an int')
        if value < low:
            raise ValueError(f'{name}: {arg}={value} must be >= {low}')


def _noisy_background(rng: np.random.Generator, size: int, base: np.ndarray,
                      noise: float) -> np.ndarray:
    img = np.broadcast_to(base.astype(np.float32), (size, size, 3)).copy()
    img += rng.normal(0.0, noise, size=(size, size, 3)).astype(np.float32)
    return img


def _shape_polygon(rng: np.random.Generator, shape: str, box: np.ndarray) -> np.ndarray:
    """Integer polygon [N, 2] (x, y) of ``shape`` inscribed in ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    if shape == 'rectangle':
        return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.int32)
    if shape == 'ellipse':
        center = ((x1 + x2) // 2, (y1 + y2) // 2)
        axes = ((x2 - x1) // 2, (y2 - y1) // 2)
        return cv2.ellipse2Poly(center, axes, 0, 0, 360, 10).astype(np.int32)
    # Triangle: apex somewhere on the top edge, base on the bottom edge.
    apex = int(rng.integers(x1, x2 + 1))
    return np.array([[apex, y1], [x2, y2], [x1, y2]], dtype=np.int32)


def _place_boxes(rng: np.random.Generator, size: int, num: int, min_frac: float,
                 max_frac: float) -> List[np.ndarray]:
    """Up to ``num`` boxes with side in [min_frac, max_frac] * size that do not overlap."""
    boxes: List[np.ndarray] = []
    gap = max(2, size // 64)
    for _ in range(num * 20):
        if len(boxes) == num:
            break
        w, h = (rng.uniform(min_frac, max_frac, size=2) * size).astype(int)
        x1 = int(rng.integers(gap, size - w - gap))
        y1 = int(rng.integers(gap, size - h - gap))
        box = np.array([x1, y1, x1 + w - 1, y1 + h - 1])
        if all(box[0] > b[2] + gap or box[2] < b[0] - gap or box[1] > b[3] + gap
               or box[3] < b[1] - gap for b in boxes):
            boxes.append(box)
    return boxes


def _write_image(path: str, img_rgb: np.ndarray) -> None:
    img = np.clip(np.rint(img_rgb), 0, 255).astype(np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.endswith('.jpg') else []
    if not cv2.imwrite(path, cv2.cvtColor(img, cv2.COLOR_RGB2BGR), params):
        raise OSError(f'toy data: could not write {path}')


def _write_json(path: str, obj: dict) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, sort_keys=True, separators=(',', ':'))


def _polygon_mask(poly: np.ndarray, size: int) -> np.ndarray:
    from pycocotools import mask as mask_utils
    rles = mask_utils.frPyObjects([poly.reshape(-1).astype(np.float64).tolist()], size, size)
    return mask_utils.decode(mask_utils.merge(rles))


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(s) for s in rle['size']], counts=rle['counts'].decode('ascii'))


def make_toy_coco(out_dir: str,
                  seed: int = 0,
                  num_train: int = 64,
                  num_val: int = 16,
                  img_size: int = 256,
                  max_objects: int = 3,
                  object_size: Tuple[float, float] = (0.25, 0.5),
                  noise: float = 12.0,
                  mask_format: str = 'polygon') -> Dict[str, str]:
    """Write a COCO-format detection set of rendered shapes.

    Layout (as mmdet's ``CocoDataset`` reads it with ``data_prefix=dict(img='train/')``)::

        out_dir/annotations/instances_train.json   out_dir/train/000000.png ...
        out_dir/annotations/instances_val.json     out_dir/val/000000.png ...

    Categories are ``TOY_COCO_CLASSES`` with ids 1, 2, 3. Images are PNG (lossless, so
    the files are byte-identical for a seed).

    Args:
        out_dir (str): Root folder; created if missing.
        seed (int): Seed of the whole set. Defaults to 0.
        num_train (int): Training images. Defaults to 64.
        num_val (int): Validation images. Defaults to 16.
        img_size (int): Side of the square images, >= 32. Defaults to 256.
        max_objects (int): At most this many shapes per image (at least one). Defaults to 3.
        object_size (tuple[float, float]): Range of a shape's box side as a fraction of
            ``img_size``. Defaults to (0.25, 0.5).
        noise (float): Standard deviation of the Gaussian pixel noise. Defaults to 12.
        mask_format (str): ``'polygon'`` (the shape's polygon) or ``'rle'`` (compressed
            RLE). Defaults to ``'polygon'``. Either way the shape is drawn exactly on the
            pixels pycocotools rasterises its polygon to.

    Returns:
        dict[str, str]: The annotation file of each split, keyed ``'train'`` / ``'val'``.
    """
    _check_args('make_toy_coco', img_size, num_train, num_val)
    if mask_format not in ('polygon', 'rle'):
        raise ValueError(f"make_toy_coco: mask_format={mask_format!r} must be 'polygon' or "
                         "'rle'")
    if not 0 < object_size[0] <= object_size[1] <= 0.9:
        raise ValueError(f'make_toy_coco: object_size={object_size} must satisfy '
                         '0 < low <= high <= 0.9')
    if max_objects < 1:
        raise ValueError(f'make_toy_coco: max_objects={max_objects} must be >= 1')
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(TOY_COCO_CLASSES)]
    ann_files = {}
    for split, num in (('train', num_train), ('val', num_val)):
        os.makedirs(osp.join(out_dir, split), exist_ok=True)
        images, annotations = [], []
        for index in range(num):
            rng = _image_rng(seed, split, index)
            base = rng.uniform(40, 110) + rng.uniform(-15, 15, size=3)
            img = _noisy_background(rng, img_size, base, noise)
            num_obj = int(rng.integers(1, max_objects + 1))
            for box in _place_boxes(rng, img_size, num_obj, *object_size):
                label = int(rng.integers(len(TOY_COCO_CLASSES)))
                poly = _shape_polygon(rng, SHAPES[label], box)
                # Rasterised as COCO's tools (and mmdet) rasterise the stored polygon, so
                # pixels, mask, box and area agree exactly.
                mask = _polygon_mask(poly, img_size)
                color = np.array(_COCO_CLASS_COLORS[label]) + rng.uniform(-25, 25, size=3)
                img[mask.astype(bool)] = color + rng.normal(
                    0.0, noise, size=(int(mask.sum()), 3))
                ys, xs = np.nonzero(mask)
                x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                if mask_format == 'rle':
                    segmentation = _rle(mask)
                else:
                    segmentation = [[float(v) for v in poly.reshape(-1)]]
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=index + 1, category_id=label + 1,
                    bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                    area=float(mask.sum()), segmentation=segmentation, iscrowd=0))
            file_name = f'{index:06d}.png'
            _write_image(osp.join(out_dir, split, file_name), img)
            images.append(dict(id=index + 1, file_name=file_name, width=img_size,
                               height=img_size))
        ann_file = osp.join(out_dir, 'annotations', f'instances_{split}.json')
        _write_json(ann_file, dict(
            info=dict(description=f'mmattn toy shapes, seed {seed}'), licenses=[],
            images=images, annotations=annotations, categories=categories))
        ann_files[split] = ann_file
    return ann_files


def make_toy_ade20k(out_dir: str,
                    seed: int = 0,
                    num_train: int = 32,
                    num_val: int = 8,
                    img_size: int = 128,
                    max_objects: int = 3,
                    object_size: Tuple[float, float] = (0.2, 0.45),
                    noise: float = 10.0,
                    splits: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """Write an ADE20K-format semantic segmentation set of rendered scenes.

    Layout (mmseg's ``ADE20KDataset`` defaults: ``.jpg`` images, ``.png`` label maps)::

        out_dir/images/training/000000.jpg      out_dir/annotations/training/000000.png
        out_dir/images/validation/000000.jpg    out_dir/annotations/validation/000000.png

    Label maps hold ADE20K values (``TOY_ADE20K_CLASSES``: sky over floor, split by a
    random horizon, and boxes, balls and tents on top); every pixel has a class, none is
    0 ("other"), so with ``reduce_zero_label=True`` no pixel is ignored.

    Args:
        out_dir (str): Root folder (the ``ADEChallengeData2016`` level); created if missing.
        seed (int): Seed of the whole set. Defaults to 0.
        num_train (int): Training images. Defaults to 32.
        num_val (int): Validation images. Defaults to 8.
        img_size (int): Side of the square images, >= 32. Defaults to 128.
        max_objects (int): At most this many shapes per image. Defaults to 3.
        object_size (tuple[float, float]): Range of a shape's box side as a fraction of
            ``img_size``. Defaults to (0.2, 0.45).
        noise (float): Standard deviation of the Gaussian pixel noise. Defaults to 10.
        splits (Sequence[str], optional): Subset of ``('train', 'val')`` to write.
            Defaults to both.

    Returns:
        dict[str, str]: The image folder of each split, keyed ``'train'`` / ``'val'``.
    """
    _check_args('make_toy_ade20k', img_size, num_train, num_val)
    written = {}
    counts = dict(train=num_train, val=num_val)
    for split in (splits or ('train', 'val')):
        if split not in counts:
            raise ValueError(f"make_toy_ade20k: split {split!r} must be 'train' or 'val'")
        img_dir = osp.join(out_dir, 'images', _ADE_SPLIT_DIRS[split])
        ann_dir = osp.join(out_dir, 'annotations', _ADE_SPLIT_DIRS[split])
        os.makedirs(img_dir, exist_ok=True)
        os.makedirs(ann_dir, exist_ok=True)
        for index in range(counts[split]):
            rng = _image_rng(seed, split, index)
            label = np.full((img_size, img_size), TOY_ADE20K_CLASSES['floor'], np.uint8)
            horizon = int(rng.integers(img_size // 4, 3 * img_size // 4))
            label[:horizon] = TOY_ADE20K_CLASSES['sky']
            num_obj = int(rng.integers(1, max_objects + 1))
            for box in _place_boxes(rng, img_size, num_obj, *object_size):
                shape = SHAPES[int(rng.integers(len(SHAPES)))]
                cv2.fillPoly(label, [_shape_polygon(rng, shape, box)],
                             _ADE_SHAPE_LABELS[shape])
            img = np.zeros((img_size, img_size, 3), np.float32)
            for value, color in _ADE_COLORS.items():
                img[label == value] = np.array(color) + rng.uniform(-20, 20, size=3)
            img += rng.normal(0.0, noise, size=img.shape).astype(np.float32)
            _write_image(osp.join(img_dir, f'{index:06d}.jpg'), img)
            if not cv2.imwrite(osp.join(ann_dir, f'{index:06d}.png'), label):
                raise OSError(f'toy data: could not write a label map in {ann_dir}')
        written[split] = img_dir
    return written
