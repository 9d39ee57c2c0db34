from .base import (STAGE_4, STAGES_2_TO_4, AttentionBase, AttentionModule, Placement,
                   list_attention_modules)
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

__all__ = [
    'AttentionBase', 'AttentionModule', 'Placement', 'list_attention_modules', 'STAGES_2_TO_4',
    'STAGE_4', 'CBAM', 'CoordAttention', 'CoTAttention', 'DANetCAM', 'DANetPAM', 'DualAttention',
    'ECA', 'FullyAttention', 'GatedTemporalConv', 'MultiHeadSelfAttention2d',
    'PolarizedSelfAttention', 'SCSA', 'SE', 'SK', 'ScaleAwareModulation',
    'ScaledDotProductAttention', 'SimplifiedScaledDotProductAttention', 'TripletAttention'
]
