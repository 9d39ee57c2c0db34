"""The config zoo: generated configs, their folders' README and metafile, the docs' tables.

Above the converters (the ``-in1k`` configs name a converted checkpoint and its command)
and the config layer; ``tools/misc/gen_configs.py`` is thin over :func:`write_zoo`.
"""
from .configs import ZOO_MODELS, ZooConfig, ZooModel, write_zoo, zoo_configs, zoo_files
from .docs import family_files, module_table
from .pretrained import PRETRAINED_ZOO, PretrainedSource, convert_command, converted_checkpoint

__all__ = ['ZOO_MODELS', 'ZooConfig', 'ZooModel', 'zoo_configs', 'zoo_files', 'write_zoo',
           'family_files', 'module_table', 'PRETRAINED_ZOO', 'PretrainedSource',
           'convert_command', 'converted_checkpoint']
