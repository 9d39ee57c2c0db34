"""Convert the official Triplet Attention ResNet-50 (landskape-ai) for mmattn.

    python tools/model_converters/triplet2mmattn.py SRC DST [--arch ARCH] [--config CONFIG]
        [--task det|seg] [--force]

The logic is mmattn.converters (family 'triplet'); see docs/converters.md.
"""
import sys

from mmattn.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('triplet'))
