"""Convert timm's ResNet family (ResNet, SE-ResNet, SE-ResNeXt, ECA-ResNet-D) for mmattn.

    python tools/model_converters/timm2mmattn.py SRC DST [--arch ARCH] [--config CONFIG]
        [--task det|seg] [--force]

The logic is mmattn.converters (family 'timm'); see docs/converters.md.
"""
import sys

from mmattn.converters.cli import main

if __name__ == '__main__':
    sys.exit(main('timm'))
