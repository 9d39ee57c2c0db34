"""Convert the official CBAM ResNet-50 (Jongchan/attention-module) for mmattn.

    python tools/model_converters/cbam2mmattn.py SRC DST [--arch ARCH] [--config CONFIG]
        [--task det|seg] [--force]

The logic is mmattn.converters (family 'cbam'); see docs/converters.md.
"""
import sys

from mmattn.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('cbam'))
