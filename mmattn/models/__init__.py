from .attentions import *  # noqa: F401,F403
from .attentions import __all__ as _attentions_all
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones_all
from .necks import *  # noqa: F401,F403
from .necks import __all__ as _necks_all
from .utils.identity_init import IdentityInit

__all__ = list(_attentions_all) + list(_backbones_all) + list(_necks_all) + ['IdentityInit']
