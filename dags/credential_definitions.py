"""credential_definitions: publish credential types to a Credential Engine-style definitions registry."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag

from credsync.dagkit import DEFAULT_ARGS, check_warehouse_schema
from credsync.operators.definitions import CredentialDefinitionsOperator

DOC = """
### credential_definitions

Publishes every credential type of `include/mappings/credential_rules.csv` as a definition (CTDL
`ceterms:Certification`) to the definitions registry — no personal data, only what the rules say.

**Steps**: check the warehouse schema; **publish_definitions** mints a CTID (`ce-` + UUID) the first
time a type is seen and keeps it for good (`core.credential_definitions`; a trigger refuses a change
or a delete), stages the definitions whose content changed, gates them with GX (suite
`credential_definitions`: CTID form, names, https webpage, lifecycle, no field outside the
definition), then publishes them. A type that left the rules is republished with
`lifeCycle:Ceased` (never deleted); back in the rules it is Active again under the same CTID.

**Runs** Mondays 04:30 UTC, and by hand after a rules change.

**Connection** `credential_definitions`: password = API key (`ApiToken`), extras `organization_ctid`,
`subject_webpage` (`{credential_type}` replaced).

**Rerun safely**: unchanged definitions are not resent; a resend is the same update under the same
CTID. A refusal (`Successful: false`) is a dead letter (source `definitions`) with the registry's
messages; a registry that stays down fails the task after the others were sent (docs/runbook.md,
"Credential definitions registry").
"""


@dag(
    dag_id="credential_definitions",
    schedule=CronTriggerTimetable("30 4 * * 1", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "credentials", "definitions"],
)
def credential_definitions() -> None:
    check_warehouse_schema() >> CredentialDefinitionsOperator(task_id="publish_definitions")


credential_definitions()
