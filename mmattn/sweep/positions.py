"""Where each 2D module goes in a ResNet by default: its paper's position.

One table, read by the config generator (the checked-in configs under
``configs/``), by the sweep tool (``tools/sweep.py``) and quoted in the README,
so the three cannot disagree.

Stage 1 is skipped for the channel/spatial gates: mmdet's ResNet configs freeze
it (``frozen_stages=1``), so a freshly inserted module there would stay at its
random initialisation; mmdet's own GCNet configs skip it for the same reason.
The self-attention modules of DANet, FLANet and BoTNet sit on the last stage
only, as in their papers (stride 32 in detection; dilated, stride 8, in mmseg's
D8 segmentors), after conv2: DANet and FLANet attend over 512 channels, which
their heads reach with a 3x3 reduction of the 2048-channel output, and
conv2's width in stage 4 is 512. After conv3 they would work on 2048 channels:
DANetPAM's 1x1 value conv and FullyAttention's 3x3 conv would add 15.7 M and
138 M parameters to ResNet-50 instead of 1.0 M and 8.7 M.
"""
from typing import Dict, NamedTuple, Tuple

Stages = Tuple[bool, bool, bool, bool]

STAGES_2_TO_4: Stages = (False, True, True, True)
STAGE_4: Stages = (False, False, False, True)


class Placement(NamedTuple):
    """A module's default place in a ResNet, and the short name in file names.

    Attributes:
        abbr (str): Lowercase short name used in config file names
            (``faster-rcnn_r50-<abbr>_fpn_1x_coco.py``).
        position (str): Bottleneck plugin position: ``'after_conv1'``,
            ``'after_conv2'`` or ``'after_conv3'``.
        stages (tuple[bool]): Which of the four ResNet stages get the module.
        paper (str): The paper, for comments and tables.
    """

    abbr: str
    position: str
    stages: Stages
    paper: str


PAPER_PLACEMENTS: Dict[str, Placement] = {
    'SE': Placement('se', 'after_conv3', STAGES_2_TO_4,
                    'Squeeze-and-Excitation Networks, CVPR 2018'),
    'SK': Placement('sk', 'after_conv2', STAGES_2_TO_4, 'Selective Kernel Networks, CVPR 2019'),
    'CBAM': Placement('cbam', 'after_conv3', STAGES_2_TO_4,
                      'CBAM: Convolutional Block Attention Module, ECCV 2018'),
    'ECA': Placement('eca', 'after_conv3', STAGES_2_TO_4, 'ECA-Net, CVPR 2020'),
    'CoordAttention': Placement('ca', 'after_conv3', STAGES_2_TO_4,
                                'Coordinate Attention, CVPR 2021'),
    'TripletAttention': Placement('triplet', 'after_conv3', STAGES_2_TO_4,
                                  'Rotate to Attend: Triplet Attention, WACV 2021'),
    'SCSA': Placement('scsa', 'after_conv2', STAGES_2_TO_4,
                      'SCSA: Spatial and Channel Synergistic Attention, 2024'),
    'PolarizedSelfAttention': Placement('psa', 'after_conv3', STAGES_2_TO_4,
                                        'Polarized Self-Attention, 2021'),
    'DANetPAM': Placement('danet-pam', 'after_conv2', STAGE_4,
                          'Dual Attention Network (position attention), CVPR 2019'),
    'DANetCAM': Placement('danet-cam', 'after_conv2', STAGE_4,
                          'Dual Attention Network (channel attention), CVPR 2019'),
    'DualAttention': Placement('danet', 'after_conv2', STAGE_4,
                               'Dual Attention Network, CVPR 2019'),
    'FullyAttention': Placement('fla', 'after_conv2', STAGE_4,
                                'Fully Attentional Network, AAAI 2022'),
    'CoTAttention': Placement('cot', 'after_conv2', STAGES_2_TO_4,
                              'Contextual Transformer Networks, TPAMI 2022'),
    'ScaleAwareModulation': Placement('sam', 'after_conv2', STAGES_2_TO_4,
                                      'Scale-Aware Modulation (SMT), ICCV 2023'),
    'MultiHeadSelfAttention2d': Placement('mhsa', 'after_conv2', STAGE_4,
                                          'multi-head self-attention as in BoTNet, CVPR 2021'),
}


def placement_of(module_type: str) -> Placement:
    """The table's placement of ``module_type``; a ValueError names the known ones."""
    name = module_type.split('.', 1)[1] if module_type.startswith('mmattn.') else module_type
    if name not in PAPER_PLACEMENTS:
        raise ValueError(
            f'sweep: no default position for module type {module_type!r}; give one '
            f'(e.g. {module_type}:after_conv3:0111) or use one of {sorted(PAPER_PLACEMENTS)}')
    return PAPER_PLACEMENTS[name]


def describe_stages(stages) -> str:
    """``(False, True, True, True)`` -> ``'stages 2-4'``; 1-based, as the papers count."""
    chosen = [i + 1 for i, on in enumerate(stages) if on]
    if not chosen:
        return 'no stage'
    if len(chosen) == 1:
        return f'stage {chosen[0]}'
    if chosen == list(range(chosen[0], chosen[-1] + 1)):
        return f'stages {chosen[0]}-{chosen[-1]}'
    return 'stages ' + ', '.join(map(str, chosen))


__all__ = ['Placement', 'PAPER_PLACEMENTS', 'STAGES_2_TO_4', 'STAGE_4', 'placement_of',
           'describe_stages']
