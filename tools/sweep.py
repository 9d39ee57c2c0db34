"""Sweep attention modules over one base config: derived configs, runs, one table.

    python tools/sweep.py BASE_CONFIG SE CBAM ECA [--launcher slurm --partition P | --run]

See ``python tools/sweep.py -h``; the logic is ``mmattn.sweep``.
"""
import os.path as osp
import sys

from mmattn.sweep.cli import main

if __name__ == '__main__':
    # This checkout's tools/train.py runs, even where another mmattn is installed.
    sys.exit(main(tools_dir=osp.dirname(osp.abspath(__file__))))
