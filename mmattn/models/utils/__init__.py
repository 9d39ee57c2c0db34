from .attention_map import AttentionMap, MapSpec, declared_maps
from .cfg import NORM_LAYOUTS, build_act, build_norm, check_act_cfg, check_conv_cfg, check_norm_cfg
from .checkpoint_fit import (CheckpointMismatchError, attention_module_paths, check_checkpoint_fits,
                             read_checkpoint)
from .checks import (check_choice, check_feature_map, check_int_sequence, check_number,
                     check_odd_kernel, check_positive_int, check_positive_sizes, check_probability,
                     check_tensor, sizes_are_symbolic)
from .lookup import UnknownTypeError, build_module, lookup_type
from .norm import conv_module_forward, norm_forward
from .precision import accumulation_dtype

__all__ = [
    'AttentionMap', 'MapSpec', 'declared_maps', 'CheckpointMismatchError',
    'attention_module_paths', 'check_checkpoint_fits', 'read_checkpoint',
    'NORM_LAYOUTS', 'accumulation_dtype', 'build_act', 'build_norm', 'check_act_cfg',
    'check_choice', 'check_conv_cfg', 'check_feature_map', 'check_int_sequence',
    'check_norm_cfg', 'check_number', 'check_odd_kernel', 'check_positive_int',
    'check_positive_sizes',
    'check_probability', 'check_tensor', 'conv_module_forward', 'norm_forward',
    'sizes_are_symbolic', 'UnknownTypeError', 'build_module', 'lookup_type'
]
