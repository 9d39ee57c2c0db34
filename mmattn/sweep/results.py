"""The final metric of each work dir, and one comparison table of a sweep.

mmengine (0.10.x) writes, per run, ``<work_dir>/<timestamp>/vis_data/scalars.json``:
one JSON object per line, appended as the run goes. Training lines hold the
losses, ``lr`` and ``iter``; a validation line holds the evaluator's metrics
(``coco/bbox_mAP``, ``mIoU``, ...) with ``step`` (the epoch or iteration it was
taken at). ``tools/test.py`` runs write ``<work_dir>/<timestamp>/<timestamp>.json``
instead: one JSON object with the test metrics. A resumed run starts a new
timestamp folder; the newest folder holding the metric wins.
"""
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

# Looked for in this order when no metric is named: detection, instance
# segmentation, semantic segmentation, classification.
KNOWN_METRICS = ('coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'accuracy/top1')


def _read_json_lines(path: str) -> List[dict]:
    records = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed run
            if isinstance(record, dict):
                records.append(record)
    return records


def _run_dirs(work_dir: str) -> List[str]:
    """Timestamp folders of a work dir, oldest first (their names sort by time)."""
    return sorted(d for d in glob.glob(osp.join(work_dir, '*')) if osp.isdir(d)
                  and osp.basename(d)[:8].isdigit())


def final_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the last evaluation logged in ``work_dir``; {} if none.

    Validation records are the lines of ``vis_data/scalars.json`` without a
    training ``loss``; of the newest run that has one, the last is returned
    (numbers only, ``step`` included). A test-only run's ``<timestamp>.json``
    counts when no validation record exists.
    """
    for run in reversed(_run_dirs(work_dir)):
        scalars = osp.join(run, 'vis_data', 'scalars.json')
        if osp.isfile(scalars):
            evals = [r for r in _read_json_lines(scalars) if not any(
                k == 'loss' or k.startswith('loss_') for k in r)]
            evals = [r for r in evals if set(r) - {'step', 'time', 'data_time'}]
            if evals:
                return {k: v for k, v in evals[-1].items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for run in reversed(_run_dirs(work_dir)):
        test_json = osp.join(run, osp.basename(run) + '.json')
        if osp.isfile(test_json):
            with open(test_json, encoding='utf-8') as f:
                try:
                    record = json.load(f)
                except json.JSONDecodeError:
                    continue
            if isinstance(record, dict):
                return {k: v for k, v in record.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {}


def pick_metrics(results: Sequence[Dict[str, float]],
                 metrics: Optional[Sequence[str]] = None) -> List[str]:
    """The metric keys to tabulate: the given ones, or the known ones present."""
    if metrics:
        return list(metrics)
    present = set().union(*results) if results else set()
    return [m for m in KNOWN_METRICS if m in present]


def _fmt(value: Optional[float]) -> str:
    if value is None or not math.isfinite(value):
        return '-'
    return f'{value:.4g}'


def comparison_table(rows: Sequence[Tuple[str, str, Dict[str, float]]],
                     metrics: Sequence[str], baseline: Optional[str] = None,
                     notes: Optional[Dict[str, str]] = None) -> str:
    """A markdown table: one row per run, one column per metric (and its change).

    Args:
        rows: ``(name, placement, final_metrics)`` per run, in table order.
        metrics: metric keys, one column each.
        baseline: name of the row the others are compared with (a ``Δ`` column
            per metric), if any.
        notes: a status per run name (e.g. ``'failed (exit 1)'``) for the last
            column; runs without metrics and without a note read ``no log``.
    """
    notes = notes or {}
    base_metrics = next((m for n, _, m in rows if n == baseline), None) if baseline else None
    header = ['config', 'module (position, stages)']
    for m in metrics:
        header.append(m)
        if base_metrics is not None:
            header.append(f'Δ {m}')
    header.append('status')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, placement, values in rows:
        cells = [f'`{name}`', placement]
        for m in metrics:
            value = values.get(m)
            cells.append(_fmt(value))
            if base_metrics is not None:
                ref = base_metrics.get(m)
                delta = None if value is None or ref is None else value - ref
                cells.append('' if name == baseline else (
                    '-' if delta is None else f'{delta:+.4g}'))
        status = notes.get(name) or ('ok' if any(m in values for m in metrics) else 'no log')
        cells.append(status)
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


__all__ = ['KNOWN_METRICS', 'final_metrics', 'pick_metrics', 'comparison_table']
