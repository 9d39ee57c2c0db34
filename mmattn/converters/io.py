"""Reading source checkpoints and writing converted ones.

Sources come as ``.pth`` / ``.pth.tar`` (``torch.save``; the official
repositories save ``{'state_dict': ..., 'optimizer': ...}`` from a
``DataParallel`` model, so every key starts with ``module.``) or as
``.safetensors`` (timm's files on the Hugging Face hub). mmpretrain and
mmengine checkpoints nest the weights under ``state_dict`` next to ``meta``;
some trainers use ``model``.
"""
import os
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from mmattn.compat import apply_compat
from mmattn.files import existing_file

SUFFIXES = ('.pth', '.pth.tar', '.pt', '.tar', '.ckpt', '.bin', '.safetensors')
_NESTED_KEYS = ('state_dict', 'model', 'module')


def _torch_load(path: str) -> Any:
    # weights_only=True: a checkpoint from the internet must not run code. mmattn's
    # allow-list lets mmengine checkpoints through.
    apply_compat()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError of a truncated zip, ...
        raise ValueError(
            f'converter: could not read {path!r} with torch.load(weights_only=True) '
            f'({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""}); '
            'it is not a PyTorch checkpoint, or it holds pickled objects other than '
            'tensors and plain containers, which are refused') from err


def load_checkpoint_file(path: str) -> Tuple[Dict[str, Tensor], Dict[str, Any]]:
    """The tensors of a checkpoint file and whatever ``meta`` it carries.

    Accepts ``.pth``, ``.pth.tar`` (and the other ``torch.save`` suffixes)
    and ``.safetensors``; unwraps ``state_dict`` / ``model`` nesting (as deep
    as it goes) and strips a ``module.`` prefix that every key shares
    (``DataParallel``). Non-tensor entries of the state dict are left out.

    Returns:
        tuple: ``(state_dict, meta)``; ``meta`` is the checkpoint's ``meta``
        dict, or ``{}``.

    Raises:
        FileNotFoundError: ``path`` does not exist
            (:class:`~mmattn.files.MissingFileError`).
        ValueError: the file cannot be read as a checkpoint, or holds no
            tensors.
    """
    existing_file('converter', 'source checkpoint', path)
    if not path.endswith(SUFFIXES):
        raise ValueError(f'converter: source checkpoint {path!r} must end in one of '
                         f'{", ".join(SUFFIXES)}')
    meta: Dict[str, Any] = {}
    if path.endswith('.safetensors'):
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            obj: Any = load_file(path, device='cpu')
        except (SafetensorError, OSError) as err:
            raise ValueError(f'converter: could not read {path!r} as safetensors: {err}') \
                from err
    else:
        obj = _torch_load(path)
    while isinstance(obj, dict):
        if isinstance(obj.get('meta'), dict) and not meta:
            meta = obj['meta']
        nested = next((k for k in _NESTED_KEYS if isinstance(obj.get(k), dict)), None)
        if nested is None:
            break
        obj = obj[nested]
    if not isinstance(obj, dict):
        raise ValueError(f'converter: {path!r} holds a {type(obj).__name__}, not a state dict')
    state = OrderedDict((k, v) for k, v in obj.items() if isinstance(v, Tensor))
    if not state:
        raise ValueError(f'converter: {path!r} holds no tensors (its keys: '
                         f'{", ".join(list(map(str, obj))[:5])})')
    if all(k.startswith('module.') for k in state):
        state = OrderedDict((k[len('module.'):], v) for k, v in state.items())
    return state, meta


def check_output_path(path: str, force: bool = False) -> None:
    """Refuse an output path that exists (unless ``force``) or that has the wrong suffix."""
    if not path.endswith('.pth'):
        raise ValueError(f'converter: the output {path!r} must end in .pth (it is loaded '
                         "by mmengine's Pretrained init, which reads torch files)")
    if osp.isdir(path):
        raise ValueError(f'converter: the output {path!r} is a directory')
    if osp.exists(path) and not force:
        raise FileExistsError(f'converter: the output {path!r} exists; it is not overwritten '
                              'unless asked (force=True, --force on the command line)')


def save_converted(state_dict: Dict[str, Tensor], meta: Dict[str, Any], path: str,
                   force: bool = False) -> None:
    """Write ``{'state_dict': ..., 'meta': ...}`` to ``path``, never half a file.

    The file is written next to ``path`` under a temporary name and then moved
    into place: without ``force`` by a hard link, which fails if ``path``
    appeared meanwhile, so an existing file is never replaced.
    """
    check_output_path(path, force)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.converting-', suffix='.pth', dir=folder)
    os.close(fd)
    try:
        torch.save({'state_dict': state_dict, 'meta': meta}, tmp)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(
                    f'converter: the output {path!r} appeared while converting; it is not '
                    'overwritten unless asked (--force)') from None
            except OSError:
                # A file system without hard links: check, then rename.
                check_output_path(path, force)
                os.rename(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def first_keys(state: Dict[str, Any], n: int = 3) -> str:
    """``'a, b, c, ...'``: the first keys of a dict, for messages."""
    keys = list(state)
    more = ', ...' if len(keys) > n else ''
    return ', '.join(keys[:n]) + more


def optional_meta_cfg(meta: Dict[str, Any]) -> Optional[str]:
    """The config text an mmengine/mmpretrain checkpoint stores in ``meta['cfg']``, if any."""
    cfg = meta.get('cfg') if isinstance(meta, dict) else None
    return cfg if isinstance(cfg, str) else None
