__version__ = '0.1.0'

# The torch mmattn supports: from the oldest torch with OpenMMLab's prebuilt mmcv 2.1 wheels
# (torch 2.1; `F.scaled_dot_product_attention(scale=)` needs it too) to the newest tested.
# setup.cfg's install_requires and the README state the same range (tests/test_version.py
# compares them); importing mmattn refuses an older torch (mmattn.compat.stack).
TORCH_MINIMUM = '2.1'
TORCH_TESTED = ('2.1.2', '2.14.1')


def parse_version_info(version: str) -> tuple:
    """Turn ``'0.1.0'`` into ``(0, 1, 0)`` (non-numeric parts kept as str)."""
    return tuple(int(p) if p.isdigit() else p for p in version.split('.'))


version_info = parse_version_info(__version__)
