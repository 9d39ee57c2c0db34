"""The config zoo: generated configs, their folders' README and metafile, the docs' tables.

Above the converters (the ``-in1k`` configs name a converted checkpoint and its command)
and the config layer; ``tools/misc/gen_configs.py`` is thin over :func:`write_zoo` and
:func:`fill_blocks`.
"""
from .configs import ZOO_MODELS, ZooConfig, ZooModel, zoo_configs
from .docs import docs_blocks, family_files, fill_blocks, module_table, readme_module_table
from .files import write_zoo, zoo_files
from .pretrained import PRETRAINED_ZOO, PretrainedSource, convert_command, converted_checkpoint

__all__ = [
    'ZOO_MODELS', 'ZooConfig', 'ZooModel', 'zoo_configs', 'zoo_files', 'write_zoo',
    'family_files', 'module_table', 'readme_module_table', 'docs_blocks', 'fill_blocks',
    'PRETRAINED_ZOO', 'PretrainedSource', 'convert_command', 'converted_checkpoint'
]
