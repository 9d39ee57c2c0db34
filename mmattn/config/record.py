"""What a checkpoint says about its model's attention, and restoring it into a config.

``tools/train.py --attention SPEC ...`` (and a sweep's derived config) records the specs in
the config, under :data:`RECORD_KEY`; ``AttentionRecordHook`` (:mod:`mmattn.engine`) copies
the record into every checkpoint's ``meta``. A tool given a config without attention and a
checkpoint with a record (``tools/test.py``, ``visualize_attention.py``,
``benchmark.py model --checkpoint``) rebuilds the model the checkpoint was trained with:
:func:`mmattn.config.derive.restore_attention` applies the recorded specs and says so in
one line.
"""
from typing import Any, Dict, Optional, Sequence

from .model import strip_attention
from .spec import ModuleSpec

#: The key of the record, in a config and in a checkpoint's ``meta``.
RECORD_KEY = 'mmattn_attention'


def attention_record(specs: Sequence[ModuleSpec], identity_init: bool = False) -> Dict[str, Any]:
    """The record of ``--attention``: the spec texts, as typed, and ``--identity-init``."""
    return dict(specs=[s.text for s in specs], identity_init=bool(identity_init))


def record_of(meta_or_cfg: Any) -> Optional[Dict[str, Any]]:
    """The record in a checkpoint's ``meta`` or a config, or None."""
    if meta_or_cfg is None:
        return None
    record = meta_or_cfg.get(RECORD_KEY, None)
    if record is None:
        return None
    record = dict(record)
    if not isinstance(record.get('specs'), (list, tuple)):
        raise ValueError(f'{RECORD_KEY} must hold a list of module specs, got {record!r}')
    return dict(specs=list(record['specs']), identity_init=bool(record.get('identity_init')))


def has_attention(model_cfg: Dict[str, Any]) -> bool:
    """Whether a model config has attention of mmattn's kinds (plugins, wrappers, ASFF)."""
    return bool(strip_attention(model_cfg)[1])


__all__ = ['RECORD_KEY', 'attention_record', 'record_of', 'has_attention']
