"""Converters: ImageNet checkpoints of attention ResNets into mmattn-ready backbones.

One module per source family (``from_timm``, ``from_mmpretrain``,
``from_cbam``, ``from_eca``, ``from_triplet``, ``from_scsa``), each with its
table of published architectures (:data:`FAMILIES`); the engine
(:mod:`~mmattn.converters.resnet`) reads source and target into roles,
refuses what would not compute the source's function, and writes a file that
loads strictly. ``tools/model_converters/<family>2mmattn.py`` run
:func:`~mmattn.converters.cli.main`.
"""
from . import from_cbam, from_eca, from_mmpretrain, from_scsa, from_timm, from_triplet  # noqa
from .convert import ConversionReport, convert_checkpoint, convert_state_dict, published_backbone
from .io import load_checkpoint_file, save_converted
from .layouts import FAMILIES, SourceArch, SourceFamily, get_arch, get_family
from .resnet import arch_backbone, build_backbone, suggest_backbone

__all__ = ['FAMILIES', 'SourceArch', 'SourceFamily', 'get_arch', 'get_family',
           'ConversionReport', 'convert_checkpoint', 'convert_state_dict', 'published_backbone',
           'load_checkpoint_file', 'save_converted', 'arch_backbone', 'build_backbone',
           'suggest_backbone']
