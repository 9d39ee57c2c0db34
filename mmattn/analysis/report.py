"""Tables, files, plots and the progress bar of ``tools/benchmark.py``."""
import csv
import json
import math
import os
import platform
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

MiB = 2**20


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: str = 'cpu') -> Dict[str, Any]:
    """Versions, device, threads and CPU: what a number depends on."""
    import mmcv
    import mmengine

    from mmattn.version import __version__
    dev = torch.device(device)
    env: Dict[str, Any] = dict(
        python=platform.python_version(), platform=platform.platform(), torch=torch.__version__,
        mmengine=mmengine.__version__, mmcv=mmcv.__version__, mmattn=__version__,
        device=dev.type, cpu=cpu_model(), cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        torch_interop_threads=torch.get_num_interop_threads(),
        omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
        mkldnn=torch.backends.mkldnn.is_available())
    if dev.type == 'cuda':
        props = torch.cuda.get_device_properties(dev)
        env.update(gpu=props.name, gpu_memory=props.total_memory, cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def human(value: Optional[float], unit: str = '') -> str:
    """``12345678`` -> ``'12.35 M'``; None -> ``'-'``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    for factor, prefix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(value) >= factor:
            return f'{value / factor:.2f} {prefix}{unit}'
    return f'{value:.0f} {unit}'.strip() if float(value).is_integer() else f'{value:.3g} {unit}'


def _num(value: float) -> str:
    """Three significant digits without exponent notation."""
    if value == 0:
        return '0'
    if abs(value) >= 100:
        return f'{value:.0f}'
    return f'{value:.3g}' if abs(value) >= 0.001 else f'{value:.1e}'


def format_ms(row: Dict[str, Any], prefix: str) -> str:
    """``'median (q1-q3)'`` of a timing in a row."""
    med = row.get(f'{prefix}_median_ms')
    if med is None:
        return '-'
    q1, q3 = row.get(f'{prefix}_q1_ms'), row.get(f'{prefix}_q3_ms')
    return f'{_num(med)} ({_num(q1)}-{_num(q3)})'


def format_mib(value: Optional[float]) -> str:
    """Bytes as MiB, three significant digits."""
    return '-' if value is None else _num(value / MiB)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ['| ' + ' | '.join(headers) + ' |', '|' + '---|' * len(headers)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines)


def _groups(rows: Sequence[Dict[str, Any]], keys: Tuple[str, ...]):
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    return groups


def modules_markdown(rows: Sequence[Dict[str, Any]]) -> str:
    """Module mode: one table per shape, precision and layout."""
    out = []
    keys = ('batch', 'channels', 'height', 'width', 'device', 'precision', 'mode',
            'channels_last')
    for key, group in _groups(rows, keys).items():
        b, c, h, w, device, precision, mode, cl = key
        title = f'{b}x{c}x{h}x{w}, {device}, {precision}'
        if precision != 'fp32':
            title += f' ({mode})'
        if cl:
            title += ', channels_last'
        roofline = any('roofline' in r for r in group)
        process = any('rss_peak' in r for r in group)
        headers = ['module', 'params', 'FLOPs', 'FLOPs (mmengine)', 'fwd ms', 'fwd+bwd ms',
                   'fwd MiB', 'fwd+bwd MiB']
        if process:
            headers.append('process peak GB')
        if roofline:
            headers.append('roofline')
        body = []
        for r in group:
            line = [r.get('module'), human(r.get('params')), human(r.get('flops')),
                    human(r.get('flops_mmengine')), format_ms(r, 'fwd'), format_ms(r, 'fwdbwd'),
                    format_mib(r.get('fwd_mem')), format_mib(r.get('fwdbwd_mem'))]
            if process:
                line.append(f"{r['rss_peak'] / 1e9:.2f}" if 'rss_peak' in r else '-')
            if roofline:
                line.append(f"{100 * r['roofline']:.1f}%" if 'roofline' in r else '-')
            if r.get('error'):
                line[0] = f"{line[0]} (error: {r['error']})"
            body.append(line)
        out.append(f'**{title}** (times: median (IQR) ms; memory: peak MiB allocated during '
                   'the call)\n\n' + markdown_table(headers, body))
    return '\n\n'.join(out)


def scaling_markdown(result: Dict[str, Any]) -> str:
    """Scaling mode: forward time and memory per size, and the fitted powers of H*W."""
    rows = result['rows']
    sizes = sorted({(r.get('height'), r.get('width')) for r in rows if r.get('height')})
    headers = ['module'] + [f'{h}x{w} fwd ms / MiB' for h, w in sizes] + [
        'time ~ (HW)^k', 'memory ~ (HW)^k', 'FLOPs ~ (HW)^k']
    body = []
    for entry in result['exponents']:
        mine = {(r.get('height'), r.get('width')): r for r in rows
                if r.get('module') == entry['module']}
        line = [entry['module']]
        for size in sizes:
            r = mine.get(size, {})
            med = r.get('fwd_median_ms')
            line.append('-' if med is None else f"{_num(med)} / {format_mib(r.get('fwd_mem'))}")
        for key in ('fwd_median_ms_exponent', 'fwd_mem_exponent', 'flops_exponent'):
            k = entry.get(key)
            line.append('-' if k is None else f'{k:.2f}')
        body.append(line)
    return markdown_table(headers, body)


def write_json(path: str, payload: Dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(payload, f, indent=2, default=str)


def write_csv(path: str, rows: Sequence[Dict[str, Any]],
              env: Optional[Dict[str, Any]] = None) -> None:
    """Every row's scalar fields (per-op breakdowns stay in the JSON), plus the environment."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    flat = []
    for row in rows:
        item = {k: v for k, v in row.items() if not isinstance(v, (dict, list))}
        for k, v in (env or {}).items():
            item.setdefault(f'env_{k}', v)
        flat.append(item)
    fields: List[str] = []
    for item in flat:
        fields += [k for k in item if k not in fields]
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(flat)


def plot_scaling(result: Dict[str, Any], path: str, title: str = '') -> None:
    """Log-log plot of forward time and peak memory against H*W, with slope-1 and -2 guides."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = result['rows']
    metrics = [('fwd_median_ms', 'forward time (ms)', 1.0),
               ('fwd_mem', 'forward peak memory (MiB)', 1.0 / MiB)]
    if any('fwdbwd_median_ms' in r for r in rows):
        metrics.insert(1, ('fwdbwd_median_ms', 'forward+backward time (ms)', 1.0))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.5))
    labels = [e['module'] for e in result['exponents']]
    for ax, (key, ylabel, scale) in zip(axes, metrics):
        all_x, all_y = [], []
        for label in labels:
            pts = sorted((r['height'] * r['width'], r[key] * scale) for r in rows
                         if r.get('module') == label and r.get(key))
            if not pts:
                continue
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker='o', label=label)
            all_x += xs
            all_y += ys
        if all_x:
            x0, x1 = min(all_x), max(all_x)
            y0 = min(all_y)
            for power, style in ((1, ':'), (2, '--')):
                ax.plot([x0, x1], [y0, y0 * (x1 / x0)**power], color='gray', linestyle=style,
                        linewidth=1, label=f'~ (HW)^{power}')
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xlabel('H x W (pixels)')
        ax.set_ylabel(ylabel)
        ax.grid(True, which='both', alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc='center right', fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


class Progress:
    """A progress bar on stderr (rich, which mmengine depends on), or nothing.

    Use as a context manager; call it with a label after each step.
    """

    def __init__(self, total: int, description: str = 'benchmark', enabled: bool = True):
        self.total = total
        self.description = description
        self.enabled = enabled and total > 0
        self._progress = None
        self._task = None

    def __enter__(self) -> 'Progress':
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)
            self._progress = Progress(
                TextColumn('{task.description}'), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(),
                console=Console(file=sys.stderr), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def __call__(self, label: str = '') -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1,
                                  description=f'{self.description}: {label}')

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)


__all__ = ['Progress', 'cpu_model', 'environment', 'format_mib', 'format_ms', 'human',
           'markdown_table', 'modules_markdown', 'plot_scaling', 'scaling_markdown', 'write_csv',
           'write_json']
