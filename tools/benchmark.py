"""Cost of attention modules: parameters, FLOPs, latency and memory, side by side.

Three modes (logic in ``mmattn/analysis``)::

    # every registered 2D module + mmcv's plugins at 2x256x64x64 on CPU
    python tools/benchmark.py modules
    python tools/benchmark.py modules SE CBAM "DANetPAM(impl='plain')" DANetPAM \\
        --shape 2 256 32 32 --precision fp32 bf16 --device cuda --baselines
    # latency and memory against resolution, log-log PNG
    python tools/benchmark.py scaling DANetPAM NonLocal2d SE --sizes 16 32 64 128
    # ResNet-50 classifier parameters with each module at its paper's position
    python tools/benchmark.py params
    # a detector or segmentor with and without its attention
    python tools/benchmark.py model configs/se/retinanet_r50-se_fpn_1x_coco.py \\
        --size 800 1333

A markdown table goes to stdout, a progress bar to stderr, and every number
with the environment to ``<out>.json`` and ``<out>.csv`` (``--out``, default
``work_dirs/benchmark/<mode>``); scaling mode also writes ``<out>.png``.
``python tools/benchmark.py rules`` prints the FLOP counting rules.
"""
import argparse
import os
import sys
from typing import Any, Dict, List

import torch
from mmengine.config import DictAction

from mmattn.analysis import flop_rules_markdown, resolve_specs, run_model, run_modules, run_scaling
from mmattn.analysis.modules import parse_overrides, shape_tuple
from mmattn.analysis.params import catalog_params, catalog_params_markdown
from mmattn.analysis.report import (Progress, environment, format_mib, format_ms, human,
                                    markdown_table, modules_markdown, plot_scaling,
                                    scaling_markdown, write_csv, write_json)
from mmattn.files import config_file, exit_on_missing_file


def parse_args(argv: List[str] = None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--device', default='cpu', help='cpu or cuda[:i] (default: cpu)')
    common.add_argument('--threads', type=int, help='torch.set_num_threads (default: torch\'s)')
    common.add_argument('--warmup', type=int, default=3, help='untimed calls (default: 3)')
    common.add_argument('--repeats', type=int, default=20,
                        help='timed calls, at most (default: 20)')
    common.add_argument('--max-time', type=float, default=10.0,
                        help='stop repeating after this many seconds per measurement, once '
                        '3 calls are timed (default: 10)')
    common.add_argument('--quick', action='store_true',
                        help='1 warm-up and 1 timed call: a smoke run, not numbers to quote')
    common.add_argument('--skip-memory', action='store_true', help='no peak-memory runs')
    common.add_argument('--out', help='prefix of the .json/.csv/.png written '
                        '(default: work_dirs/benchmark/<mode>)')
    common.add_argument('--no-progress', action='store_true', help='no progress bar')

    modules_common = argparse.ArgumentParser(add_help=False)
    modules_common.add_argument(
        'modules', nargs='*', help="module specs: Name, Name(k=v, ...), baseline:Name "
        "(quote them for the shell: 'DANetPAM(impl=\"plain\")') "
        '(default: every registered 2D mmattn module and mmcv\'s attention plugins)')
    modules_common.add_argument(
        '--kwargs', nargs='+', default=[], metavar='TYPE(ARGS)',
        help="constructor arguments for every spec of a type, e.g. \"DANetPAM(impl='plain')\"")
    modules_common.add_argument('--baselines', action='store_true',
                                help='add the baseline transcription after each module that '
                                'has one')
    modules_common.add_argument('--no-mmcv', action='store_true',
                                help='default list without mmcv\'s plugins')
    modules_common.add_argument('--precision', nargs='+', default=['fp32'],
                                choices=['fp32', 'fp16', 'bf16'],
                                help='fp16/bf16 through autocast (default: fp32)')
    modules_common.add_argument('--cast', action='store_true',
                                help='convert module and input to the dtype instead of autocast')
    modules_common.add_argument('--channels-last', action='store_true',
                                help='also measure in channels_last')
    modules_common.add_argument('--skip-flops', action='store_true')
    modules_common.add_argument('--process-memory', action='store_true',
                                help='also the peak resident set of a fresh process running '
                                'one call (CPU, fp32)')
    modules_common.add_argument('--skip-backward', action='store_true',
                                help='forward only (no forward+backward runs)')

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='mode', required=True)
    p = sub.add_parser('modules', parents=[common, modules_common],
                       help='every chosen module at the given shapes')
    p.add_argument('--shape', nargs=4, type=int, action='append', metavar=('B', 'C', 'H', 'W'),
                   help='input shape, repeatable (default: 2 256 64 64)')
    p = sub.add_parser('scaling', parents=[common, modules_common],
                       help='latency and memory against input resolution')
    p.add_argument('--sizes', nargs='+', type=int, default=[16, 32, 64, 128],
                   help='square input sizes H=W (default: 16 32 64 128)')
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--channels', type=int, default=256)
    p = sub.add_parser('model', parents=[common],
                       help='a detector/segmentor config with and without its attention')
    p.add_argument('config')
    p.add_argument('--size', nargs=2, type=int, default=[800, 1333], metavar=('H', 'W'),
                   help='input image size (default: 800 1333)')
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--skip-train', action='store_true', help='no training-iteration timing')
    p.add_argument('--attention', nargs='+', metavar='SPEC',
                   help='put attention modules into the config\'s model, as tools/train.py '
                   '--attention does')
    p.add_argument('--checkpoint', help='a checkpoint of tools/train.py --attention: its '
                   'attention is put into a config without attention (the weights are not '
                   'loaded)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                   help='config overrides (as mmdet\'s tools read them, after --attention), '
                   'e.g. model.backbone.depth=101')
    p = sub.add_parser('params', help='ResNet-50 classifier parameters with each module at its '
                       'default place (its class)')
    p.add_argument('modules', nargs='*', help='module types (default: the placement table)')
    p.add_argument('--channels', type=int, default=256,
                   help='width for the module-alone column (default: 256)')
    sub.add_parser('rules', help='print the FLOP counting rules (markdown)')
    sub.add_parser('list', help='print the default module list')
    args = parser.parse_args(argv)
    if getattr(args, 'quick', False):
        args.warmup, args.repeats, args.max_time = 1, 1, 0.0
    return args


def _timing_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    return dict(device=args.device, warmup=args.warmup, repeats=args.repeats,
                max_time=args.max_time, memory=not args.skip_memory)


def _specs(args: argparse.Namespace):
    return resolve_specs(args.modules, with_baselines=args.baselines,
                         mmcv_plugins=not args.no_mmcv)


def _module_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    kwargs = _timing_kwargs(args)
    kwargs.update(overrides=parse_overrides(args.kwargs), cast=args.cast,
                  flops=not args.skip_flops, backward=not args.skip_backward,
                  process_memory=args.process_memory)
    return kwargs


def _layouts(args: argparse.Namespace):
    return (False, True) if args.channels_last else (False, )


def run(args: argparse.Namespace) -> Dict[str, Any]:
    """Run one mode; the payload written to JSON (also printed as markdown)."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or os.path.join('work_dirs', 'benchmark', args.mode)
    payload: Dict[str, Any] = dict(mode=args.mode, argv=sys.argv[1:],
                                   environment=environment(args.device))
    if args.mode == 'modules':
        specs = _specs(args)
        shapes = [shape_tuple(s) for s in (args.shape or [(2, 256, 64, 64)])]
        total = len(specs) * len(shapes) * len(args.precision) * len(_layouts(args))
        with Progress(total, 'modules', enabled=not args.no_progress) as progress:
            rows = run_modules(specs, shapes, args.precision, _layouts(args), progress=progress,
                               **_module_kwargs(args))
        payload['rows'] = rows
    elif args.mode == 'scaling':
        specs = _specs(args)
        total = len(specs) * len(args.sizes) * len(args.precision) * len(_layouts(args))
        with Progress(total, 'scaling', enabled=not args.no_progress) as progress:
            result = run_scaling(specs, args.sizes, args.batch, args.channels,
                                 precisions=args.precision, channels_last=_layouts(args),
                                 progress=progress, **_module_kwargs(args))
        payload.update(result)
        plot_scaling(result, out + '.png', title=f'{args.batch}x{args.channels}xHxW, '
                     f'{args.device}, {"/".join(args.precision)}')
        payload['plot'] = out + '.png'
    else:
        config_file('benchmark.py model', args.config)  # before the progress bar starts
        cfg_options = args.cfg_options or None
        with Progress(2, 'model', enabled=not args.no_progress) as progress:
            result = run_model(args.config, args.size, batch_size=args.batch_size,
                               train=not args.skip_train, cfg_options=cfg_options,
                               progress=progress, attention=args.attention,
                               checkpoint=args.checkpoint, **_timing_kwargs(args))
        payload.update(result)
    write_json(out + '.json', payload)
    write_csv(out + '.csv', payload['rows'], payload['environment'])
    if args.mode == 'modules':
        text = modules_markdown(payload['rows'])
    elif args.mode == 'scaling':
        text = scaling_markdown(payload)
    else:
        text = _model_markdown(payload)
    print(text)
    print(f'\n{_env_line(payload["environment"])}; numbers in {out}.json, {out}.csv')
    return payload


def _env_line(env: Dict[str, Any]) -> str:
    device = env.get('gpu') or env.get('cpu')
    return (f"torch {env['torch']}, {env['device']} ({device}), "
            f"{env['torch_threads']} threads")


def _model_markdown(result: Dict[str, Any]) -> str:
    headers = ['variant', 'params', 'FLOPs', 'FLOPs (mmengine)', 'inference ms',
               'train iter ms', 'inference MiB', 'train MiB']
    body = [[r['variant'], human(r.get('params')), human(r.get('flops')),
             human(r.get('flops_mmengine')), format_ms(r, 'infer'), format_ms(r, 'train'),
             format_mib(r.get('infer_mem')), format_mib(r.get('train_mem'))]
            for r in result['rows']]
    share = result['share']
    body.append(['attention share'] + [
        f'{100 * share[k]:.1f}%' if k in share else '-'
        for k in ('params', 'flops', 'flops_mmengine', 'infer_median_ms', 'train_median_ms',
                  'infer_mem', 'train_mem')])
    added = ', '.join(f'{k} x{v}' for k, v in result['added_modules'].items()) or 'none'
    h, w = result['size']
    return (f"**{result['config']}**, {result['batch_size']}x3x{h}x{w}; removed: "
            f"{', '.join(result['removed']) or 'nothing'}; added modules: {added}\n\n"
            + markdown_table(headers, body))


def main(argv: List[str] = None) -> None:
    args = parse_args(argv)
    if args.mode == 'rules':
        print(flop_rules_markdown())
        return
    if args.mode == 'params':
        rows = catalog_params(args.modules or None, args.channels)
        print(catalog_params_markdown(rows, args.channels))
        return
    if args.mode == 'list':
        for spec in resolve_specs(None):
            print(f'{spec.label}\t{spec.source}')
        return
    with exit_on_missing_file():
        run(args)


if __name__ == '__main__':
    main()
