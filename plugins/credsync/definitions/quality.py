"""The GX gate on the definitions a run is about to publish (staging.credential_definitions).

What the registry makes public must be a definition, never a person: the field names are a closed
set, CTIDs have the registry's form, and names, descriptions and the subject webpage are present.
"""

from __future__ import annotations

from typing import Any

SUITE_NAME = "credential_definitions"
TABLE = "staging.credential_definitions"
# Every field a definition may carry (credsync.definitions.publish.definition); anything else is refused.
FIELDS = ("CTID", "Name", "Description", "CredentialType", "SubjectWebpage", "LifeCycleStatusType", "InLanguage",
          "Keyword", "Renewal")
# ``field_names`` is the definition's keys joined by commas: each one of FIELDS.
FIELD_NAMES_PATTERN = "^({0})(,({0}))*$".format("|".join(FIELDS))
CTID_PATTERN = r"^ce-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def definition_expectations() -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToMatchRegex(column="ce_ctid", regex=CTID_PATTERN, meta={"rule": "ctid_format"}),
        ex.ExpectColumnValuesToBeUnique(column="ce_ctid", meta={"rule": "ctid_unique"}),
        ex.ExpectColumnValueLengthsToBeBetween(column="name", min_value=1, max_value=200,
                                               meta={"rule": "name_length"}),
        ex.ExpectColumnValueLengthsToBeBetween(column="description", min_value=1, max_value=2000,
                                               meta={"rule": "description_length"}),
        ex.ExpectColumnValuesToMatchRegex(column="subject_webpage", regex=r"^https://[^\s]+$",
                                          meta={"rule": "subject_webpage_https"}),
        ex.ExpectColumnValuesToBeInSet(column="lifecycle", value_set=["lifeCycle:Active", "lifeCycle:Ceased"],
                                       meta={"rule": "lifecycle_allowed"}),
        ex.ExpectColumnValuesToMatchRegex(column="field_names", regex=FIELD_NAMES_PATTERN,
                                          meta={"rule": "no_field_outside_the_definition"}),
    ]
