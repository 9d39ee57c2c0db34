"""Which ImageNet checkpoint with its modules each module's pretrained zoo configs start from.

One entry per module that has published ImageNet weights trained *with* the
module (:data:`mmattn.converters.FAMILIES` lists them all; a test checks that
every such module is here). Each entry names the source the configs use: the
papers' own weights where the authors published them (CBAM, ECA-Net, Triplet
Attention), and mmpretrain's SE-ResNet-50 for SE, trained with the paper's
recipe (SGD, 224 px, 140 epochs) where timm's stronger ones come from other
recipes. All four are plain-stem ResNet-50s near 77.5% top-1, comparable with
the bases' torchvision ResNet-50 (76.1%). The config generator
(:func:`mmattn.zoo.zoo_files`) writes their Faster R-CNN, Mask R-CNN,
RetinaNet and FCN configs from here.
"""
import os.path as osp
from typing import Dict, List, NamedTuple
from urllib.parse import urlparse


class PretrainedSource(NamedTuple):
    """The converter source of a module's pretrained configs.

    Attributes:
        family (str): The converter family (``tools/model_converters/<family>2mmattn.py``).
        arch (str): The family's architecture name.
        why (str): Why this source, for the README.
    """

    family: str
    arch: str
    why: str


PRETRAINED_ZOO: Dict[str, PretrainedSource] = {
    'SE': PretrainedSource('mmpretrain', 'seresnet50',
                           "the paper's recipe (timm's seresnet50 reaches 80.3 with a longer one)"),
    'CBAM': PretrainedSource('cbam', 'resnet50_cbam', "the paper authors' weights"),
    'ECA': PretrainedSource('eca', 'eca_resnet50',
                            "the paper authors' weights (timm's ecaresnet50d is a ResNet-D)"),
    'TripletAttention': PretrainedSource('triplet', 'resnet50_triplet',
                                         "the paper authors' weights (k = 7)"),
}


def converted_checkpoint(family: str, arch: str) -> str:
    """Where the configs expect the converted file (relative to the working directory)."""
    return f'checkpoints/{family}_{arch}_in1k_mmattn.pth'


def source_file_name(url: str) -> str:
    """The downloaded file's name where the URL shows it, else a placeholder."""
    name = osp.basename(urlparse(url).path)
    return name if name.endswith(('.pth', '.pth.tar', '.safetensors')) else 'DOWNLOADED_FILE'


def convert_command(family: str, arch: str, url: str) -> List[str]:
    """The converter command, one argument group per line (backslash continued)."""
    return [f'python tools/model_converters/{family}2mmattn.py \\',
            f'    {source_file_name(url)} \\',
            f'    {converted_checkpoint(family, arch)} --arch {arch}']


__all__ = ['PretrainedSource', 'PRETRAINED_ZOO', 'converted_checkpoint', 'convert_command',
           'source_file_name']
