"""Tiny plugin modules with known, non-commuting math, for the insertion-point tests.

They are passed to configs as classes (``dict(type=Scale)``), which mmcv's
``build_plugin_layer`` accepts, so nothing test-only enters the registry.
"""
import torch
import torch.nn as nn


class Scale(nn.Module):
    """``x * w``, one learnable scalar (default 2)."""

    _abbr_ = 'scale'

    def __init__(self, in_channels: int, value: float = 2.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.weight = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x):
        return x * self.weight


class Shift(nn.Module):
    """``x + b``, a learnable per-channel bias (default 1)."""

    _abbr_ = 'shift'

    def __init__(self, in_channels: int, value: float = 1.0) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.bias = nn.Parameter(torch.full((in_channels, ), float(value)))

    def forward(self, x):
        return x + self.bias.view(1, -1, 1, 1)


def quiet_init(model: nn.Module) -> nn.Module:
    """``model.init_weights()`` without mmengine's per-parameter INFO log."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return model


def mim_config(package: str, path: str):
    """A config shipped with mmdet/mmseg (what ``_base_ = 'mmdet::path'`` reads), loaded."""
    import importlib
    from pathlib import Path

    from mmengine.config import Config
    root = Path(importlib.import_module(package).__file__).parent / '.mim' / 'configs'
    return Config.fromfile(root / path)
