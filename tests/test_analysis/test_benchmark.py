"""Module and scaling modes of tools/benchmark.py, the measurement helpers and module specs.

Timings are never asserted: only that they are produced and ordered.
"""
import csv
import json
import runpy

import pytest
import torch

from mmattn.analysis import (BenchSpec, build_module, default_specs, parse_spec, peak_memory,
                             run_modules, run_scaling, scaling_exponent, time_call)
from mmattn.analysis.measure import summarize_times
from mmattn.analysis.modules import MMCV_PLUGINS, parse_overrides
from mmattn.models import list_attention_modules
from tests.conftest import REPO_ROOT

QUICK = dict(warmup=1, repeats=1, max_time=0.0)


@pytest.fixture(scope='module')
def benchmark_main():
    return runpy.run_path(str(REPO_ROOT / 'tools' / 'benchmark.py'), run_name='benchmark')['main']


def test_summary_statistics():
    stats = summarize_times([0.004, 0.001, 0.003, 0.002, 0.005])
    assert stats == dict(median_ms=3.0, q1_ms=2.0, q3_ms=4.0, min_ms=1.0, max_ms=5.0,
                         repeats=5)


def test_time_call_counts_calls():
    calls = []
    stats = time_call(lambda: calls.append(1), torch.device('cpu'), warmup=2, repeats=4,
                      max_time=1e9)
    assert len(calls) == 6 and stats['repeats'] == 4
    assert stats['min_ms'] <= stats['q1_ms'] <= stats['median_ms'] <= stats['q3_ms'] <= stats[
        'max_ms']


def test_cpu_peak_memory_is_exact():
    def fn():
        a = torch.ones(250_000, dtype=torch.uint8)
        b = torch.ones(2_000_000, dtype=torch.uint8)
        del a
        c = torch.ones(4_000_000, dtype=torch.uint8)
        del b, c

    held = torch.ones(8_000_000, dtype=torch.uint8)  # allocated before: not counted
    assert peak_memory(fn, torch.device('cpu')) == 6_000_000
    del held


def test_scaling_exponent():
    assert scaling_exponent([16, 64, 256], [1.0, 16.0, 256.0]) == pytest.approx(2.0)
    assert scaling_exponent([16, 64, 256], [3.0, 12.0, None]) == pytest.approx(1.0)
    assert scaling_exponent([16], [1.0]) is None


def test_specs_parse_in_the_one_grammar_and_build():
    spec = parse_spec("DANetPAM(impl='plain', reduction=4)")
    assert spec == BenchSpec('DANetPAM', dict(impl='plain', reduction=4))
    assert spec.label == "DANetPAM(impl='plain', reduction=4)"
    assert parse_spec('baseline:CoTAttention').baseline
    assert parse_overrides(['SE(reduction=8)', 'SE(bias=False)']) == {
        'SE': dict(reduction=8, bias=False)}
    se = build_module(parse_spec('SE(reduction=4)'), 32, parse_overrides(['SE(reduction=8)']))
    assert se.hidden_channels == 8  # inline arguments win over --kwargs
    with pytest.raises(ValueError, match='keyword=value'):
        parse_spec('SE(4)')
    with pytest.raises(ValueError, match='is not a literal'):
        parse_spec('DANetPAM(impl=plain)')  # unquoted: nothing is taken as a string
    with pytest.raises(ValueError, match="SE has no argument 'ratio'"):
        parse_spec('SE(ratio=4)')
    with pytest.raises(ValueError, match='names a position'):
        parse_spec('SE:after_conv3')
    with pytest.raises(KeyError, match='closest registered names'):
        parse_spec('SEE')


def test_default_list_is_the_registry():
    names = [s.name for s in default_specs()]
    assert names[:len(list_attention_modules())] == list(list_attention_modules())
    assert set(names) - set(list_attention_modules()) <= set(MMCV_PLUGINS)
    assert 'ContextBlock' in names and 'NonLocal2d' in names


def test_module_rows():
    specs = [parse_spec('SE'), parse_spec('ContextBlock'), BenchSpec('NoSuchModule')]
    rows = run_modules(specs, [(1, 16, 3, 5)], precisions=('fp32', 'bf16'), **QUICK)
    assert len(rows) == 6
    se = rows[0]
    assert se['module'] == 'SE' and se['source'] == 'mmattn' and 'error' not in se
    assert se['params'] == 16 * 1 * 2 + 1 + 16
    assert se['flops'] > se['flops_mmengine'] > 0
    for key in ('fwd_median_ms', 'fwdbwd_median_ms', 'fwd_mem', 'fwdbwd_mem'):
        assert se[key] >= 0, key
    assert 'roofline' not in se  # CUDA only
    assert rows[1]['source'] == 'mmcv' and 'error' not in rows[1]
    assert rows[2]['error'].startswith('build: UnknownTypeError')
    assert rows[3]['precision'] == 'bf16' and 'error' not in rows[3]


def test_modules_mode_writes_markdown_json_csv(benchmark_main, tmp_path, capsys):
    out = tmp_path / 'modules'
    benchmark_main(['modules', 'SE', 'SE(reduction=4)', '--shape', '2', '8', '4', '4',
                    '--quick', '--no-progress', '--out', str(out)])
    text = capsys.readouterr().out
    assert '| module | params | FLOPs |' in text and '| SE(reduction=4) |' in text
    payload = json.loads((tmp_path / 'modules.json').read_text())
    assert payload['environment']['torch'] == torch.__version__
    assert payload['environment']['torch_threads'] == torch.get_num_threads()
    assert [r['module'] for r in payload['rows']] == ['SE', 'SE(reduction=4)']
    assert payload['rows'][0]['flops_by_op']['mean'] == 2 * 8 * 4 * 4
    with open(tmp_path / 'modules.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and rows[0]['env_device'] == 'cpu' and float(rows[0]['flops']) > 0


def test_scaling_mode_writes_png(benchmark_main, tmp_path, capsys):
    out = tmp_path / 'scaling'
    benchmark_main(['scaling', 'SE', 'NonLocal2d', '--sizes', '4', '8', '--batch', '1',
                    '--channels', '8', '--quick', '--skip-backward', '--no-progress', '--out',
                    str(out)])
    assert (tmp_path / 'scaling.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    text = capsys.readouterr().out
    assert 'memory ~ (HW)^k' in text
    payload = json.loads((tmp_path / 'scaling.json').read_text())
    exponents = {e['module']: e for e in payload['exponents']}
    assert exponents['SE']['flops_exponent'] == pytest.approx(1.0, abs=0.05)
    assert exponents['NonLocal2d']['flops_exponent'] > 1.5


def test_run_scaling_rows():
    result = run_scaling([parse_spec('SE')], sizes=(2, 4), batch=1, channels=8, backward=False,
                         memory=False, flops=True, **QUICK)
    assert [(r['height'], r['width']) for r in result['rows']] == [(2, 2), (4, 4)]
    assert 'fwdbwd_median_ms' not in result['rows'][0]
