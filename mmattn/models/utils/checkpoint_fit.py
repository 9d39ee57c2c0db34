"""Whether a checkpoint's weights fit the attention modules of a model: a sentence if not.

mmengine loads a checkpoint into a model with ``strict=False`` and only logs the keys that
did not match, so a config and a checkpoint of different attention run as a model with
randomly initialised modules (a CBAM config with an SE checkpoint drew 13 figures of random
CBAM maps, and exited 0). Every mmattn tool that takes a checkpoint calls
:func:`check_checkpoint_fits` first: a mismatch under any mmattn module (missing keys,
keys of modules the model does not have, shapes that differ) is refused with one sentence
naming the modules on each side and the fix.
"""
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch.nn as nn
from torch import Tensor

from mmattn.registry import ROOT_MODELS

__all__ = ['CheckpointMismatchError', 'attention_module_paths', 'check_checkpoint_fits',
           'read_checkpoint']


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model's attention modules."""


def _is_mmattn(module: nn.Module) -> bool:
    return type(module).__module__.startswith('mmattn.models.')


def attention_module_paths(model: nn.Module) -> Dict[str, str]:
    """The outermost mmattn modules of ``model`` (attention modules, their identity-start
    wrappers, ASFF), by path, with their type names; mmattn's backbones and the wrappers of a
    backbone or neck are containers, not modules here."""
    found: Dict[str, str] = OrderedDict()
    containers = ('mmattn.models.backbones.', 'mmattn.models.necks.attention_neck')
    for path, module in model.named_modules():
        if not path or not _is_mmattn(module) or type(module).__module__.startswith(containers):
            continue
        if any(path.startswith(p + '.') for p in found):
            continue  # inside a module already listed (DualAttention's PAM and CAM)
        name = type(module).__name__
        if name == 'IdentityInit' and hasattr(module, 'module'):
            name = type(module.module).__name__
        found[path] = name
    return found


def _summary(items: Sequence[Tuple[str, str]], limit: int = 3) -> str:
    shown = ', '.join(f'{name} at {path}' for path, name in items[:limit])
    more = f' (and {len(items) - limit} more)' if len(items) > limit else ''
    return shown + more


def read_checkpoint(path: str) -> Tuple[Dict[str, Tensor], Dict]:
    """The weights (``state_dict``, ``module.`` prefixes removed) and ``meta`` of an
    mmengine checkpoint, read as mmengine reads it (with mmattn's checkpoint allow-list)."""
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmattn.compat import apply_compat
    apply_compat()
    checkpoint = _load_checkpoint(path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(f'{path} is not a checkpoint (it holds a '
                                      f'{type(checkpoint).__name__})')
    state = checkpoint.get('state_dict', checkpoint)
    state = {(k[len('module.'):] if k.startswith('module.') else k): v
             for k, v in state.items()}
    return state, dict(checkpoint.get('meta', None) or {})


def _attention_names() -> set:
    """The attribute names mmattn's modules take in a network (``_abbr_``, e.g. ``se``)."""
    return {cls._abbr_ for cls in ROOT_MODELS.module_dict.values()
            if getattr(cls, '__module__', '').startswith('mmattn.models.')
            and getattr(cls, '_abbr_', None)}


def _module_of(key: str, paths: Sequence[str]) -> Optional[str]:
    for path in paths:
        if key.startswith(path + '.'):
            return path
    return None


def _checkpoint_modules(keys: Sequence[str], model_keys: Mapping[str, Tensor]) -> List[str]:
    """Where the checkpoint has weights the model lacks: the deepest module path of each
    key that the model does not have as a prefix of any of its own keys."""
    prefixes = set()
    for key in model_keys:
        parts = key.split('.')
        prefixes.update('.'.join(parts[:i]) for i in range(1, len(parts)))
    found = OrderedDict()
    for key in keys:
        if key in model_keys:
            continue
        parts = key.split('.')
        # the longest prefix the model has, then the next part: the module it lacks
        for i in range(len(parts) - 1, 0, -1):
            if '.'.join(parts[:i]) in prefixes:
                found.setdefault('.'.join(parts[:i + 1]), None)
                break
        else:
            found.setdefault(parts[0], None)
    return list(found)


def check_checkpoint_fits(model: nn.Module, state_dict: Mapping[str, Tensor], tool: str,
                          checkpoint: str = 'the checkpoint', trained_with: str = '') -> None:
    """Refuse, with one sentence, a checkpoint whose weights do not fit the model's
    attention modules; anything else (the trunk, the heads) is mmengine's to report.

    Args:
        model (nn.Module): The built model.
        state_dict (Mapping): The checkpoint's weights (``module.`` prefixes removed).
        tool (str): Who refuses, for the sentence.
        checkpoint (str): The checkpoint's name, for the sentence.
        trained_with (str): What the checkpoint says it was trained with (its
            ``--attention``), for the fix.

    Raises:
        CheckpointMismatchError: a module of the model has no weights in the checkpoint,
            the checkpoint has weights of attention modules the model lacks, or shapes
            differ.
    """
    ours = attention_module_paths(model)
    model_state = model.state_dict()
    keys = [k[len('module.'):] if k.startswith('module.') else k for k in state_dict]
    state = dict(zip(keys, state_dict.values()))
    missing = [(p, n) for p, n in ours.items()
               if any(k.startswith(p + '.') for k in model_state)
               and not any(k.startswith(p + '.') for k in state)]
    shapes = [(p, n) for p, n in ours.items()
              if any(k.startswith(p + '.') and k in state and hasattr(state[k], 'shape')
                     and tuple(state[k].shape) != tuple(v.shape)
                     for k, v in model_state.items())]
    # An attention module of the checkpoint: its attribute name is a module's ``_abbr_``
    # (plus the postfix of a second one of a type, ``cbam2``).
    names = _attention_names()
    foreign = [p for p in _checkpoint_modules(keys, model_state)
               if _module_of(p, list(ours)) is None
               and p.split('.')[-1].rstrip('0123456789') in names]
    if not (missing or shapes or foreign):
        return
    parts = []
    if missing:
        parts.append(f'the model has {_summary(missing)}, whose weights {checkpoint} lacks')
    if shapes:
        parts.append(f'the weights of {_summary(shapes)} have other shapes in {checkpoint} '
                     '(other module arguments)')
    if foreign:
        shown = ', '.join(foreign[:3]) + (f' (and {len(foreign) - 3} more)'
                                          if len(foreign) > 3 else '')
        parts.append(f'{checkpoint} has weights of modules the model does not have, at '
                     f'{shown}')
    fix = (f'it was trained with --attention {trained_with}: give that --attention, or ' if
           trained_with else '')
    raise CheckpointMismatchError(
        f'{tool}: {checkpoint} does not fit the config\'s model: ' + '; '.join(parts)
        + f'. Use the config it was trained with ({fix}the config mmengine wrote into its '
        'work dir), so that no module runs with random weights')
