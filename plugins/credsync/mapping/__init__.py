"""The mapping engine: versioned CSV field mappings from include/mappings/.

Stable API (other pipelines build on it)::

    from credsync.mapping import load_mapping, MappingError

    mapping = load_mapping("hris_worker", "v1")     # include/mappings/hris_worker_v1.csv
    row = mapping.apply(nested_record, record_number=7, record_key="E0007")
    row["mapping_version"] = mapping.mapping_version  # "hris_worker_v1"

``apply`` returns ``{target_field: typed value}`` or raises :class:`MappingError`
whose ``file``, ``row`` (mapping CSV line), ``field`` (target field),
``record`` and ``record_key`` locate the problem; ``str(err)`` says it all
in one line, ``err.reason`` is the bare reason and ``err.rule`` the stable
name of the failed check (both for quarantine rows).

Whatever a mapping declares, emitted strings hold no control characters and
no more than the field's ``max_length`` (default :data:`DEFAULT_MAX_LENGTH`);
anything else is a :class:`MappingError`, never another exception.
"""

from credsync.mapping.engine import (
    COLUMNS,
    DATA_TYPES,
    DEFAULT_MAX_LENGTH,
    FieldMapping,
    FieldRule,
    MappingError,
    load_mapping,
)
from credsync.mapping.transforms import CHARACTER_CLASSES
from credsync.mapping.transforms import NAMED as NAMED_TRANSFORMS

__all__ = [
    "CHARACTER_CLASSES",
    "COLUMNS",
    "DATA_TYPES",
    "DEFAULT_MAX_LENGTH",
    "NAMED_TRANSFORMS",
    "FieldMapping",
    "FieldRule",
    "MappingError",
    "load_mapping",
]
