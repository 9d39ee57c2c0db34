"""Convert the official ECA-Net ResNet-50/101 (BangguWu/ECANet) for mmattn.

    python tools/model_converters/eca2mmattn.py SRC DST [--arch ARCH] [--config CONFIG]
        [--task det|seg] [--force]

The logic is mmattn.converters (family 'eca'); see docs/converters.md.
"""
import sys

from mmattn.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('eca'))
