from .asff import ASFF
from .attention_neck import AttentionNeck

__all__ = ['ASFF', 'AttentionNeck']
