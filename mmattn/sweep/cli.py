"""``tools/sweep.py``: one base config, a list of modules -> configs, runs, one table.

    python tools/sweep.py BASE_CONFIG SE CBAM ECA:after_conv2 SK:after_conv2:0011
    python tools/sweep.py BASE_CONFIG --all-modules --launcher slurm --partition gpu --gpus 8
    python tools/sweep.py BASE_CONFIG SE CBAM --run -- --cfg-options train_cfg.max_iters=100
    python tools/sweep.py BASE_CONFIG SE CBAM --collect

A module is ``TYPE[(ARGS)][:POSITION[:STAGES]]`` (``'SE(reduction=8):after_conv3:0111'``;
quote it for the shell), as ``tools/train.py --attention`` takes it; what it leaves
out comes from ``--position``/``--stages``, then from the module's default
place (its class's facts, :func:`mmattn.config.paper_placements`). Positions:
after_conv1/2/3 (ResNet blocks; the backbone becomes its plugin-capable form),
after_stage (backbone outputs, any
backbone), after_neck (neck levels; ASFF goes there). Derived configs go to
``OUT/configs/`` (plus a baseline without modules), each built once before any is
written; work dirs go to ``OUT/<config name>/``; the comparison table (also
``OUT/results.md``) reads each work dir's last evaluation. Arguments after ``--``
go to every ``tools/train.py`` call; the tools are those of the checkout that
tools/sweep.py belongs to.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence, TextIO

from mmattn.config import POSITIONS, describe_stages, parse_module_spec
from mmattn.files import MissingFileError
from mmattn.models import list_attention_modules
from .configs import SweepEntry, derive_configs
from .launch import LAUNCHERS, format_command, run_locally, train_command, work_dir_of
from .results import comparison_table, final_metrics, pick_metrics


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='tools/sweep.py', formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Sweep attention modules over one base config: derived configs, '
        'training commands or local runs, one comparison table.',
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('config', help='base config (a path, or e.g. '
                        'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py)')
    parser.add_argument('modules', nargs='*', metavar='MODULE',
                        help='TYPE[(ARGS)][:POSITION[:STAGES]], e.g. CBAM, SK:after_conv2:0111 '
                        "or 'SE(reduction=8)'")
    parser.add_argument('--all-modules', action='store_true',
                        help='every registered 2D attention module, at its paper position')
    parser.add_argument('--position', choices=POSITIONS,
                        help='position for every module that does not name one')
    parser.add_argument('--stages', help='stages for every module that does not name them, '
                        'one digit per stage, e.g. 0111')
    parser.add_argument('--identity-init', action='store_true',
                        help='the modules start as the identity (IdentityInit), as the zoo\'s')
    parser.add_argument('--out-dir', help='default: work_dirs/sweep/<base config name>')
    parser.add_argument('--no-baseline', action='store_true',
                        help='no run without modules')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='form of the printed commands (default: plain python)')
    parser.add_argument('--gpus', type=int, default=8, help='GPUs per run (pytorch, slurm)')
    parser.add_argument('--gpus-per-node', type=int, help='slurm: GPUs per node')
    parser.add_argument('--partition', help='slurm partition')
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--run', action='store_true',
                      help='train the configs here, one after another, then print the table')
    mode.add_argument('--collect', action='store_true',
                      help='only print the table from the work dirs of an earlier sweep')
    parser.add_argument('--metric', nargs='+',
                        help='metric keys for the table (default: coco/bbox_mAP, '
                        'coco/segm_mAP, mIoU or accuracy/top1, those that were logged)')
    return parser


def _module_list(args) -> List[str]:
    specs = list(args.modules)
    if args.all_modules:
        # Those with a default place first (in the registry's order), then the others.
        registered = list_attention_modules()
        specs += sorted(registered, key=lambda t: registered[t].placement() is None)
    return specs


def _placement(entry: SweepEntry) -> str:
    if entry.module_type is None:
        return 'none (baseline)'
    return f'{entry.module_type} ({entry.position}, {describe_stages(entry.stages)})'


def default_tools_dir() -> str:
    """``tools/`` of the checkout this mmattn was imported from, else ``'tools'``."""
    here = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')
    # An installed (non-editable) mmattn: the commands assume the repository root.
    return here if osp.isfile(osp.join(here, 'train.py')) else 'tools'


def main(argv: Optional[Sequence[str]] = None, out: TextIO = sys.stdout,
         runner=None, tools_dir: Optional[str] = None) -> int:
    """The sweep tool; ``tools_dir``: whose ``train.py`` runs (tools/sweep.py passes its own
    folder, so a checkout runs its own tools even when another mmattn is installed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: List[str] = []
    if '--' in argv:
        cut = argv.index('--')
        argv, train_args = argv[:cut], argv[cut + 1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    specs = _module_list(args)
    if not specs:
        parser.error('name at least one module (or --all-modules)')
    if args.run and args.launcher != 'none':
        parser.error('--run trains here, one run after another: use it with --launcher none')
    base_stem = osp.splitext(osp.basename(args.config.split('::')[-1]))[0]
    out_dir = args.out_dir or osp.join('work_dirs', 'sweep', base_stem)
    try:
        parsed = [parse_module_spec(s, args.position, args.stages) for s in specs]
        entries = derive_configs(args.config, parsed, osp.join(out_dir, 'configs'),
                                 baseline=not args.no_baseline,
                                 identity_init=args.identity_init)
    except (ValueError, MissingFileError) as e:
        parser.error(str(e))
    tools_dir = tools_dir or default_tools_dir()

    notes = {}
    if args.run:
        kwargs = {} if runner is None else dict(runner=runner)
        codes = run_locally(entries, out_dir, train_args, tools_dir=tools_dir,
                            log=lambda s: print(s, file=out, flush=True), **kwargs)
        notes = {n: f'failed (exit {c})' for n, c in codes.items() if c != 0}
    elif not args.collect:
        print(f'# {len(entries)} configs in {osp.join(out_dir, "configs")}; '
              f'train them with:', file=out)
        rel_tools = osp.relpath(tools_dir) if osp.isabs(tools_dir) else tools_dir
        for entry in entries:
            print(format_command(train_command(
                entry.config, work_dir_of(entry, out_dir), args.launcher, gpus=args.gpus,
                gpus_per_node=args.gpus_per_node, partition=args.partition,
                job_name=entry.name, train_args=train_args, tools_dir=rel_tools)), file=out)
        collect = [a for a in argv if a not in ('--run', )] + ['--collect']
        print('# then the comparison table: python tools/sweep.py '
              + format_command(collect), file=out)
        return 0

    results = [(e.name, _placement(e), final_metrics(work_dir_of(e, out_dir)))
               for e in entries]
    metrics = pick_metrics([r[2] for r in results], args.metric)
    table = comparison_table(results, metrics,
                             baseline=None if args.no_baseline else entries[0].name,
                             notes=notes)
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'results.md'), 'w', encoding='utf-8') as f:
        f.write(table)
    print(table, end='', file=out)
    return 1 if notes else 0


__all__ = ['main', 'build_parser', 'default_tools_dir']
