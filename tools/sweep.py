"""Sweep attention modules over one base config: derived configs, runs, one table.

    python tools/sweep.py BASE_CONFIG SE CBAM ECA [--launcher slurm --partition P | --run]

See ``python tools/sweep.py -h``; the logic is ``mmattn.sweep``.
"""
import sys

from mmattn.sweep.cli import main

if __name__ == '__main__':
    sys.exit(main())
