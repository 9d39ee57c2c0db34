"""What every phase of the ResNet conversion shares."""
import re

BN_EPS = 1e-5  # every source family trains with PyTorch's default BatchNorm epsilon
BLOCK_KEY = re.compile(r'^layer(\d+)\.(\d+)\.(.+)$')
TRUNK_ROLES = ('conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3')


def fail(message: str) -> None:
    raise ValueError(f'converter: {message}')


def in_words(position: str) -> str:
    """``'after_conv3'`` -> ``'after conv3'``, for messages."""
    return position.replace('_', ' ')
