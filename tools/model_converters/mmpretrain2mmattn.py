"""Convert mmpretrain's SE-ResNet-50/101 model-zoo checkpoints for mmattn.

    python tools/model_converters/mmpretrain2mmattn.py SRC DST [--arch ARCH] [--config CONFIG]
        [--task det|seg] [--force]

The logic is mmattn.converters (family 'mmpretrain'); see docs/converters.md.
"""
import sys

from mmattn.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('mmpretrain'))
