"""The config layer: where modules go, the one module-spec grammar, ``--attention``.

Above :mod:`mmattn.models` and below everything that writes or changes configs (the zoo,
the converters' reports, the benchmark, the tools, the sweep):

- :mod:`.positions`: the insertion points, stage digits, each module's default place
  (read from its class);
- :mod:`.spec`: ``TYPE[(ARGS)][:POSITION[:STAGES]]``, parsed strictly, the arguments
  checked against the module's constructor, and the builder of a spec;
- :mod:`.model`: a model config's attention, and the config without it;
- :mod:`.derive`: the derivation behind ``--attention`` and the sweep;
- :mod:`.render`: config-file source, formatted as OpenMMLab's configs are.
"""
from .derive import (PLUGIN_FORMS, Derivation, Placed, apply_attention, build_parts, check_builds,
                     compose_config, derive_model, describe, describe_placed, restore_attention)
from .model import (ATTENTION_NECKS, WRAPPER_TYPES, no_pretrained, starts_as_identity,
                    strip_attention)
from .positions import (BLOCK_POSITIONS, POSITION_WORDS, POSITIONS, Placement, Stages,
                        describe_placement, describe_stages, paper_placements, parse_stages,
                        placement_of)
from .record import RECORD_KEY, attention_record, has_attention, record_of
from .render import (CUSTOM_IMPORTS, LINE_LENGTH, comment_lines, format_value, render_model,
                     to_python)
from .spec import ModuleSpec, build_module, check_module_args, parse_module_args, parse_module_spec

__all__ = [
    'PLUGIN_FORMS', 'Derivation', 'Placed', 'apply_attention', 'build_parts', 'check_builds',
    'derive_model', 'describe', 'describe_placed', 'ATTENTION_NECKS', 'WRAPPER_TYPES',
    'no_pretrained', 'starts_as_identity', 'strip_attention', 'BLOCK_POSITIONS',
    'POSITION_WORDS', 'POSITIONS',
    'Placement', 'Stages', 'describe_placement', 'describe_stages', 'paper_placements',
    'parse_stages', 'placement_of', 'CUSTOM_IMPORTS', 'LINE_LENGTH', 'comment_lines',
    'format_value', 'render_model', 'to_python', 'ModuleSpec', 'build_module', 'check_module_args',
    'parse_module_args', 'parse_module_spec', 'restore_attention', 'compose_config',
    'RECORD_KEY',
    'attention_record', 'has_attention', 'record_of'
]
