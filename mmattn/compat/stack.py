"""The installed stack, checked once when mmattn is imported: one sentence instead of an
``AttributeError`` deep in a forward.

- torch older than :data:`mmattn.version.TORCH_MINIMUM`: ``ImportError`` naming the installed
  and the supported torch, and what to install.
- a numpy that the installed torch cannot use (torch 2.1 was built against numpy 1.x and,
  beside numpy 2, prints ``Failed to initialize NumPy: _ARRAY_API not found`` at import and
  raises ``RuntimeError: Numpy is not available`` later, in mmengine's data pipelines and
  mmattn's figures): ``ImportError`` naming both versions and the fix.

An mmcv compiled against another torch fails when its ops load (``undefined symbol``):
:func:`mmcv_ops_error` turns that error into the same kind of sentence, where mmattn
imports ``mmcv.ops``.
"""
import re
from typing import Optional, Tuple

import numpy as np
import torch

from mmattn.version import TORCH_MINIMUM, TORCH_TESTED

__all__ = ['release', 'check_torch', 'check_numpy', 'check_stack', 'mmcv_ops_error']


def release(version: str) -> Tuple[int, ...]:
    """``'2.14.1+cu130'`` -> ``(2, 14, 1)``: the numeric release, local labels dropped."""
    match = re.match(r'\d+(\.\d+)*', version)
    if match is None:
        raise ValueError(f'mmattn: cannot read the version {version!r}')
    return tuple(int(p) for p in match.group(0).split('.'))


def _supported() -> str:
    return (f'mmattn supports torch >= {TORCH_MINIMUM} (tested with '
            f'{" and ".join(TORCH_TESTED)})')


def check_torch(version: Optional[str] = None) -> None:
    """Raise ``ImportError`` when torch ``version`` (default: the installed one) is too old."""
    version = torch.__version__ if version is None else version
    if release(version)[:2] < release(TORCH_MINIMUM)[:2]:
        raise ImportError(
            f'{_supported()}; the installed torch is {version}: install a supported one, '
            f"e.g. pip install torch=={TORCH_TESTED[0]} 'numpy<2' (OpenMMLab's prebuilt "
            'mmcv 2.1.0 wheels exist for torch 2.1) or `make setup` in the mmattn checkout')


def check_numpy() -> None:
    """Raise ``ImportError`` when torch cannot exchange arrays with the installed numpy."""
    try:
        torch.from_numpy(np.zeros(1))
    except RuntimeError as error:
        raise ImportError(
            f'mmattn: torch {torch.__version__} cannot use the installed numpy '
            f'{np.__version__} ({error}): this torch was built against numpy 1.x; install '
            "pip install 'numpy<2' (or a torch built against numpy 2)") from None


def check_stack() -> None:
    """Both checks above; run by ``import mmattn``."""
    check_torch()
    check_numpy()


def mmcv_ops_error(error: BaseException) -> Optional[ImportError]:
    """The sentence for an ``mmcv.ops`` import that failed because mmcv's compiled ops were
    built against another torch (``undefined symbol``), or None for any other failure."""
    text = str(error)
    if 'undefined symbol' not in text and 'symbol not found' not in text:
        return None
    try:
        import mmcv
        mmcv_version = mmcv.__version__
    except Exception:  # pragma: no cover - mmcv itself did not import
        mmcv_version = '?'
    return ImportError(
        f"mmattn: mmcv {mmcv_version}'s compiled ops do not load with the installed torch "
        f'{torch.__version__} ({text.splitlines()[0][:200]}): they were compiled against '
        'another torch. Rebuild mmcv against this one (`make setup` in the mmattn checkout '
        "keeps one mmcv wheel per torch), or install OpenMMLab's prebuilt wheel for this "
        'torch and CUDA')
