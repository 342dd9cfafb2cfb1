"""The mapping engine: versioned CSV field mappings from include/mappings/.

Stable API (other pipelines build on it)::

    from credsync.mapping import load_mapping, MappingError

    mapping = load_mapping("hris_worker", "v1")     # include/mappings/hris_worker_v1.csv
    row = mapping.apply(nested_record, record_number=7, record_key="E0007")
    row["mapping_version"] = mapping.mapping_version  # "hris_worker_v1"

``apply`` returns ``{target_field: typed value}`` or raises :class:`MappingError`
whose ``file``, ``row`` (mapping CSV line), ``field`` (target field),
``record`` and ``record_key`` locate the problem; ``str(err)`` says it all
in one line, ``err.reason`` is the bare reason (for quarantine rows).
"""

from credsync.mapping.engine import COLUMNS, DATA_TYPES, FieldMapping, FieldRule, MappingError, load_mapping
from credsync.mapping.transforms import NAMED as NAMED_TRANSFORMS

__all__ = [
    "COLUMNS",
    "DATA_TYPES",
    "NAMED_TRANSFORMS",
    "FieldMapping",
    "FieldRule",
    "MappingError",
    "load_mapping",
]
