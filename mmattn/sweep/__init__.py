"""Configs with attention modules, and sweeps over them.

``positions``: each module's default place in a ResNet (its paper's).
``pretrained``: the ImageNet checkpoint (with the module) each module's -in1k configs start from.
``configs``: the checked-in config zoo and configs derived from any base.
``results``: the final metric of each work dir, as one comparison table.
``launch``: the commands that train each derived config, or running them here.
``tools/sweep.py`` and ``tools/misc/gen_configs.py`` are thin over these.
"""
from .configs import (SweepEntry, derive_configs, parse_module_spec, parse_stages, write_zoo,
                      zoo_files)
from .positions import PAPER_PLACEMENTS, Placement, placement_of

__all__ = ['PAPER_PLACEMENTS', 'Placement', 'placement_of', 'SweepEntry', 'derive_configs',
           'parse_module_spec', 'parse_stages', 'write_zoo', 'zoo_files']
