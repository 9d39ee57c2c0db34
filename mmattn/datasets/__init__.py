"""Toy data sets for demos and tests (not imported by ``import mmattn``)."""
from .toy import TOY_ADE20K_CLASSES, TOY_COCO_CLASSES, make_toy_ade20k, make_toy_coco

__all__ = ['TOY_COCO_CLASSES', 'TOY_ADE20K_CLASSES', 'make_toy_coco', 'make_toy_ade20k']
