"""Files named on a tool's command line, checked before the tool does any work.

A config, checkpoint or image that is not there used to surface as mmengine's or mmcv's
``FileNotFoundError`` at the end of a traceback, after the model or the dataset had been
built. Every mmattn tool checks the files it is given first, with these functions, so a
missing one reads the same everywhere: one sentence naming the tool, the argument and
the path (and, for a relative path, the directory it was looked for in)::

    tools/test.py: CHECKPOINT 'work_dirs/demo/iter_3.pth' does not exist (looked for in /home/me)

:class:`MissingFileError` is a ``FileNotFoundError``, so callers that catch that keep
working; :func:`exit_on_missing_file` turns it into that one line and exit status 1 in
a tool's ``main``, without the traceback.
"""
import contextlib
import os
import os.path as osp
import sys
from typing import Iterator

__all__ = ['MissingFileError', 'existing_file', 'config_file', 'exit_on_missing_file']


class MissingFileError(FileNotFoundError):
    """A file a tool was given is not there; the message is one sentence naming the tool,
    the argument and the path."""


def _where(path: str) -> str:
    return '' if osp.isabs(path) else f' (looked for in {os.getcwd()})'


def existing_file(tool: str, argument: str, path: str) -> str:
    """``path`` if it is a file, else :class:`MissingFileError` naming ``tool`` and
    ``argument`` (as the tool's usage line names it: ``CHECKPOINT``, ``--config``).

    Raises:
        TypeError: ``path`` is not a string.
        MissingFileError: nothing is at ``path``, or a directory is.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f'{tool}: {argument} must be a path, got {type(path).__name__}')
    path = os.fspath(path)
    if osp.isfile(path):
        return path
    if osp.isdir(path):
        raise MissingFileError(f'{tool}: {argument} {path!r} is a directory, not a file')
    raise MissingFileError(f'{tool}: {argument} {path!r} does not exist{_where(path)}')


def config_file(tool: str, config: str, argument: str = 'CONFIG') -> str:
    """The file of ``config``: a path, or an installed package's config as ``_base_`` names
    it (``mmdet::retinanet/retinanet_r50_fpn_1x_coco.py``, resolved as mmengine does).

    Raises:
        MissingFileError: the file is not there, the package is not installed, or the
            reference is not ``PACKAGE::PATH``.
    """
    if isinstance(config, str) and '::' in config:
        import importlib.util

        from mmengine.config import Config
        package, _, inside = config.partition('::')
        example = "e.g. 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'"
        if not package.isidentifier() or importlib.util.find_spec(package) is None:
            raise MissingFileError(
                f'{tool}: {argument} {config!r} names a config of the package {package!r}, '
                f'which is not installed (PACKAGE::PATH, {example})')
        try:
            return Config._get_cfg_path(config, '')[0]
        except (FileNotFoundError, ValueError):
            raise MissingFileError(
                f'{tool}: {argument} {config!r}: {package} has no config {inside!r} (the '
                f'path after :: is one inside its configs/, {example})') from None
    return existing_file(tool, argument, config)


@contextlib.contextmanager
def exit_on_missing_file(*also: type) -> Iterator[None]:
    """In a tool's ``main``: a :class:`MissingFileError` (or an error of the types ``also``,
    each a refusal whose message is one sentence, e.g.
    :class:`mmattn.models.utils.CheckpointMismatchError`) ends the process with its sentence
    on stderr (prefixed ``error:``, as the converters print their refusals) and exit status
    1, instead of a traceback."""
    try:
        yield
    except (MissingFileError, ) + also as err:
        print(f'error: {err}', file=sys.stderr)
        raise SystemExit(1) from None
