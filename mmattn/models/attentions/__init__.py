from .se import SE

__all__ = ['SE']
