from .attentions import *  # noqa: F401,F403
from .attentions import __all__ as _attentions_all

__all__ = list(_attentions_all)
