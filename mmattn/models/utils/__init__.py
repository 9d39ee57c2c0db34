from .checks import check_feature_map, check_positive_int
from .lookup import UnknownTypeError, build_module, lookup_type

__all__ = ['check_feature_map', 'check_positive_int', 'UnknownTypeError', 'build_module',
           'lookup_type']
