from .attention_map import AttentionMap, MapSpec, declared_maps
from .checks import check_feature_map, check_positive_int
from .lookup import UnknownTypeError, build_module, lookup_type

__all__ = ['AttentionMap', 'MapSpec', 'declared_maps', 'check_feature_map', 'check_positive_int',
           'UnknownTypeError', 'build_module', 'lookup_type']
