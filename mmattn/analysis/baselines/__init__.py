"""Straightforward transcriptions of the seed code's math, kept as speed and memory baselines.

The modules in ``mmattn.models`` are rewritten for speed (fused attention, linear
algebra moved across reductions, no copies); the targets in the issues are stated
against these direct transcriptions of the paper's math. They are registered in
``BASELINES``, not in the model registry: no config can build them by accident.
Each takes the same arguments as the module it mirrors, and
``load_state_dict`` of one into the other gives the same outputs (tests check it),
so a benchmark compares like with like.
"""
from mmengine.registry import Registry

BASELINES = Registry('attention baseline')

# Registered on import; after BASELINES, which they import.
from . import cbam, cot, danet, fully_attention, smt  # noqa: E402,F401

__all__ = ['BASELINES']
