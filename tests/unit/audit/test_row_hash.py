from datetime import UTC, datetime

from credsync.audit import GENESIS_HASH, row_hash

MOMENT = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)
EVENT = {"tenant_id": "acme", "event_type": "registry.acknowledged", "entity_type": "credential",
         "entity_key": "c1", "detail": {"registry_id": "REG-1", "status": 201}, "occurred_at": MOMENT}


def test_row_hash_is_deterministic_and_ignores_detail_key_order():
    reordered = {**EVENT, "detail": {"status": 201, "registry_id": "REG-1"}}
    assert row_hash(GENESIS_HASH, **EVENT) == row_hash(GENESIS_HASH, **reordered)


def test_row_hash_changes_with_every_field_and_with_the_previous_hash():
    base = row_hash(GENESIS_HASH, **EVENT)
    changed = [
        row_hash("f" * 64, **EVENT),
        row_hash(GENESIS_HASH, **{**EVENT, "tenant_id": "globex"}),
        row_hash(GENESIS_HASH, **{**EVENT, "event_type": "registry.revoked"}),
        row_hash(GENESIS_HASH, **{**EVENT, "entity_key": "c2"}),
        row_hash(GENESIS_HASH, **{**EVENT, "detail": {"registry_id": "REG-2", "status": 201}}),
        row_hash(GENESIS_HASH, **{**EVENT, "occurred_at": MOMENT.replace(microsecond=123457)}),
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_row_hash_reads_time_in_utc_whatever_the_offset():
    from datetime import timedelta, timezone

    shifted = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert row_hash(GENESIS_HASH, **EVENT) == row_hash(GENESIS_HASH, **{**EVENT, "occurred_at": shifted})
