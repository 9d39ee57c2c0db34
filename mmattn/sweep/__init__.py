"""Sweeps: one base config, many modules, one table. Nothing more.

``configs``: one derived config per module spec (the derivation of ``--attention``,
:mod:`mmattn.config`). ``launch``: the commands that train each derived config, or
running them here. ``results``: the final metric of each work dir, as one comparison
table. ``cli``: ``tools/sweep.py``.
"""
from .configs import SweepEntry, derive_configs, derived_name

__all__ = ['SweepEntry', 'derive_configs', 'derived_name']
