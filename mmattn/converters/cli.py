"""Command line of the converter scripts in ``tools/model_converters/``."""
import argparse
import sys
from typing import List, Optional

from .convert import convert_checkpoint
from .layouts import get_family


def build_parser(family: str) -> argparse.ArgumentParser:
    fam = get_family(family)
    archs = ', '.join(sorted(fam.archs))
    parser = argparse.ArgumentParser(
        prog=f'{family}2mmattn.py',
        description=f'Convert a checkpoint of {fam.title} ({fam.code}) into a file that loads '
                    'strictly into an mmdet/mmseg ResNet backbone with mmattn modules.')
    parser.add_argument('src', help='source checkpoint (.pth, .pth.tar or .safetensors)')
    parser.add_argument('dst', help='converted file to write (.pth)')
    parser.add_argument('--arch', choices=sorted(fam.archs), default=None,
                        help=f'the architecture the checkpoint must be ({archs}); '
                             'default: any this family has')
    parser.add_argument('--config', default=None,
                        help="a config whose model.backbone the file must load into (e.g. "
                             "the zoo config that uses it); default: the backbone the "
                             'checkpoint implies, see --task')
    parser.add_argument('--task', choices=('det', 'seg'), default='det',
                        help='without --config: mmdet backbone (det) or mmseg backbone (seg)')
    parser.add_argument('--force', action='store_true', help='overwrite dst if it exists')
    return parser


def main(family: str, argv: Optional[List[str]] = None) -> int:
    """Run the converter of ``family``; 0 on success, 1 with one line on stderr on refusal."""
    args = build_parser(family).parse_args(argv)
    try:
        report = convert_checkpoint(args.src, args.dst, family, arch=args.arch,
                                    config=args.config, task=args.task, force=args.force)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    print(f'wrote {args.dst}')
    return 0
