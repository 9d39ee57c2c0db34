"""Train the configs of a sweep: the commands for a cluster, or runs here, one by one.

The command forms are mmdet's, for mmattn's own ``tools/``:

- ``none``:    ``python tools/train.py CONFIG --work-dir DIR [ARGS]``
- ``pytorch``: ``bash tools/dist_train.sh CONFIG GPUS --work-dir DIR [ARGS]`` (torchrun)
- ``slurm``:   ``GPUS=N GPUS_PER_NODE=M bash tools/slurm_train.sh PARTITION JOB CONFIG DIR [ARGS]``
"""
import os
import os.path as osp
import shlex
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence

from .configs import SweepEntry

LAUNCHERS = ('none', 'pytorch', 'slurm')


def work_dir_of(entry: SweepEntry, work_root: str) -> str:
    return osp.join(work_root, entry.name)


def train_command(config: str, work_dir: str, launcher: str = 'none', gpus: int = 1,
                  gpus_per_node: Optional[int] = None, partition: Optional[str] = None,
                  job_name: Optional[str] = None, train_args: Sequence[str] = (),
                  tools_dir: str = 'tools', python: str = 'python') -> List[str]:
    """The argv that trains ``config`` into ``work_dir`` with the given launcher.

    For ``slurm`` the returned list starts with ``GPUS=...`` environment
    assignments, as a shell line would (see :func:`format_command`).
    """
    extra = list(train_args)
    if launcher == 'none':
        return [python, osp.join(tools_dir, 'train.py'), config, '--work-dir', work_dir] + extra
    if launcher == 'pytorch':
        return ['bash', osp.join(tools_dir, 'dist_train.sh'), config, str(gpus),
                '--work-dir', work_dir] + extra
    if launcher == 'slurm':
        if not partition:
            raise ValueError('sweep: launcher=slurm needs a partition (--partition)')
        env = [f'GPUS={gpus}', f'GPUS_PER_NODE={gpus_per_node or min(gpus, 8)}']
        return env + ['bash', osp.join(tools_dir, 'slurm_train.sh'), partition,
                      job_name or osp.splitext(osp.basename(config))[0], config,
                      work_dir] + extra
    raise ValueError(f'sweep: launcher={launcher!r} must be one of {LAUNCHERS}')


def format_command(argv: Sequence[str]) -> str:
    """A shell line for ``argv``; leading ``VAR=value`` items stay assignments."""
    words, leading = [], True
    for arg in argv:
        name, _, value = arg.partition('=')
        leading = leading and bool(_) and name.isidentifier()
        words.append(f'{name}={shlex.quote(value)}' if leading else shlex.quote(arg))
    return ' '.join(words)


def run_locally(entries: Sequence[SweepEntry], work_root: str, train_args: Sequence[str] = (),
                tools_dir: str = 'tools', python: str = sys.executable,
                runner: Callable[..., 'subprocess.CompletedProcess'] = subprocess.run,
                log: Callable[[str], None] = print) -> Dict[str, int]:
    """Train each entry here, one after another; its exit code by name.

    A run that fails does not stop the sweep: its row in the table says so.
    ``runner`` is :func:`subprocess.run` (replaceable in tests). The runs import
    mmattn from the repository that holds ``tools_dir`` (it goes first on
    ``PYTHONPATH``, as ``tools/dist_train.sh`` does), not from wherever mmattn is
    installed.
    """
    env = dict(os.environ)
    root = osp.dirname(osp.abspath(tools_dir))
    env['PYTHONPATH'] = os.pathsep.join([root] + [p for p in env.get(
        'PYTHONPATH', '').split(os.pathsep) if p])
    codes = {}
    for i, entry in enumerate(entries, 1):
        argv = train_command(entry.config, work_dir_of(entry, work_root), 'none',
                             train_args=train_args, tools_dir=tools_dir, python=python)
        log(f'[{i}/{len(entries)}] {format_command(argv)}')
        codes[entry.name] = runner(argv, env=env).returncode
        if codes[entry.name] != 0:
            log(f'[{i}/{len(entries)}] {entry.name} failed with exit code {codes[entry.name]}')
    return codes


__all__ = ['LAUNCHERS', 'train_command', 'format_command', 'run_locally', 'work_dir_of']
