"""Write the config zoo (configs/det, configs/seg) from mmattn's position table.

    python tools/misc/gen_configs.py           # (re)write the files that differ
    python tools/misc/gen_configs.py --check   # exit 1 if a checked-in file differs

The table is ``mmattn/sweep/positions.py``; the file text is
``mmattn.sweep.configs.zoo_files``.
"""
import argparse
import os.path as osp
import sys

from mmattn.sweep.configs import write_zoo, zoo_files

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config-dir', default=CONFIG_DIR, help='where configs/ is')
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 when a file differs from the generator')
    args = parser.parse_args()
    if args.check:
        stale = []
        for rel, text in zoo_files().items():
            path = osp.join(args.config_dir, rel)
            if not osp.isfile(path) or open(path, encoding='utf-8').read() != text:
                stale.append(rel)
        for rel in stale:
            print(f'differs from the generator: configs/{rel}')
        return 1 if stale else 0
    for rel in write_zoo(args.config_dir):
        print(f'wrote configs/{rel}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
