"""Convert SCSA ResNets trained with the official code (HZAI-ZJNU/SCSA) for mmattn.

    python tools/model_converters/scsa2mmattn.py SRC DST [--arch ARCH] [--config CONFIG]
        [--task det|seg] [--force]

The logic is mmattn.converters (family 'scsa'); see docs/converters.md.
"""
import sys

from mmattn.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('scsa'))
