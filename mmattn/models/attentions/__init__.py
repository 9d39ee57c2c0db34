from .cbam import CBAM
from .coord_attention import CoordAttention
from .cot import CoTAttention
from .danet import DANetCAM, DANetPAM, DualAttention
from .eca import ECA
from .fully_attention import FullyAttention
from .gated_temporal_conv import GatedTemporalConv
from .mhsa import (MultiHeadSelfAttention2d, ScaledDotProductAttention,
                   SimplifiedScaledDotProductAttention)
from .polarized_self_attention import PolarizedSelfAttention
from .scsa import SCSA
from .se import SE
from .sk import SK
from .smt import ScaleAwareModulation
from .triplet_attention import TripletAttention

__all__ = ['PolarizedSelfAttention', 'SCSA', 'TripletAttention', 'SE', 'SK', 'CBAM', 'ECA',
           'CoordAttention', 'CoTAttention',
           'ScaleAwareModulation', 'MultiHeadSelfAttention2d', 'ScaledDotProductAttention',
           'SimplifiedScaledDotProductAttention', 'GatedTemporalConv',
           'DANetPAM', 'DANetCAM', 'DualAttention', 'FullyAttention']
