"""The GX gate on the outgoing batch of national LRS statements (staging.national_lrs_batch).

The checklist judged each statement; the gate checks the batch as the LRS will see it, in SQL,
before anything is sent: every actor a well-formed national id, NELC verbs only, one row per
statement id, the agreed platform and language on each, and extension names from NELC's table.
"""

from __future__ import annotations

import re
from typing import Any

from credsync.mapping.national_id import FORM
from credsync.national.vocabulary import ALLOWED_EXTENSIONS, VERBS

SUITE_NAME = "national_lrs_statements"
TABLE = "staging.national_lrs_batch"
KEY_COLUMNS = ("statement_id",)
_EXTENSIONS = sorted(set().union(*ALLOWED_EXTENSIONS.values()))
#: ``extension_keys`` is the statement's context extension names joined by commas: each one of NELC's.
EXTENSION_KEYS_PATTERN = "^({0})(,({0}))*$".format("|".join(re.escape(e) for e in _EXTENSIONS))


def statement_expectations() -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeUnique(column="statement_id", meta={"rule": "statement_id_unique"}),
        ex.ExpectColumnValuesToNotBeNull(column="actor_name", meta={"rule": "actor_present"}),
        ex.ExpectColumnValuesToMatchRegex(column="actor_name", regex=FORM, meta={"rule": "national_id_format"}),
        ex.ExpectColumnValuesToBeInSet(column="verb_id", value_set=sorted(VERBS.values()),
                                       meta={"rule": "nelc_verb"}),
        ex.ExpectColumnValuesToMatchRegex(column="object_id", regex=r"^https://[^\s]+/course/[^\s/]+(/[^\s]+)?$",
                                          meta={"rule": "object_id_convention"}),
        ex.ExpectColumnValuesToNotBeNull(column="platform", meta={"rule": "platform_present"}),
        ex.ExpectColumnValuesToBeInSet(column="language", value_set=["ar-SA", "en-US"],
                                       meta={"rule": "language_code"}),
        ex.ExpectColumnValuesToMatchRegex(column="extension_keys", regex=EXTENSION_KEYS_PATTERN,
                                          meta={"rule": "nelc_extensions_only"}),
    ]
