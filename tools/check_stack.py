"""Import every part of the stack, as the last step of ``make setup``; one line either way.

Prints ``torch X | numpy Y | mmengine ... | mmattn Z`` (and torchvision, timm, mmpretrain
where installed) and exits 0, or prints which part failed and why, and what imported before
it, and exits 1: a set-up never ends with "done" on a stack that cannot run. The numpy check
is torch wrapping one of numpy's arrays (torch 2.1 beside numpy 2 imports, warns, and only
fails there).
"""
import sys
import warnings


def check() -> int:
    parts = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            import numpy
            import torch
            torch.from_numpy(numpy.zeros(1))
            parts['torch'], parts['numpy'] = torch.__version__, numpy.__version__
            import mmengine
            parts['mmengine'] = mmengine.__version__
            import mmcv
            from mmcv.ops import RoIAlign, nms  # noqa: F401  (the compiled ops load)
            parts['mmcv'] = mmcv.__version__
            import mmdet
            import mmseg
            parts['mmdet'], parts['mmseg'] = mmdet.__version__, mmseg.__version__
            from mmengine.registry import MODELS

            import mmattn
            if MODELS.get('SE') is None:
                raise LookupError("mmattn imported, but 'SE' is not registered")
            parts['mmattn'] = mmattn.__version__
            for optional in ('torchvision', 'timm', 'mmpretrain'):
                try:
                    parts[optional] = __import__(optional).__version__
                except ImportError:
                    pass
    except Exception as error:
        done = ', '.join(f'{k} {v}' for k, v in parts.items()) or 'nothing'
        first = str(error).splitlines()[0] if str(error) else ''
        why = ''
        if 'undefined symbol' in first and 'mmcv' in first:
            why = (f"; mmcv's compiled ops were built against another torch than torch "
                   f"{parts.get('torch', '?')}: rebuild mmcv for this one (make setup keeps one "
                   'mmcv wheel per torch in ~/.cache/mmattn/wheels)')
        print(f'    the stack does not import: {type(error).__name__}: {first} '
              f'(imported before it: {done}){why}', file=sys.stderr)
        return 1
    print('    ' + ' | '.join(f'{k} {v}' for k, v in parts.items()))
    return 0


if __name__ == '__main__':
    sys.exit(check())
