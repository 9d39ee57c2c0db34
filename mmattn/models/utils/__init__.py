from .checks import check_feature_map, check_positive_int

__all__ = ['check_feature_map', 'check_positive_int']
