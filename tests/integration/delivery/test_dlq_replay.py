"""Dead-letter replay through the same idempotent paths as the push and the write-back."""

from __future__ import annotations

from datetime import date

from credsync.delivery.push import push_submissions
from credsync.delivery.replay import replay_dead_letters
from credsync.delivery.writeback import sync_writebacks
from credsync.warehouse import connect
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import put_hris_workers, seed_credentials


def _letters(url: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT source, reason, status, replay_outcome FROM audit.dead_letters ORDER BY source").fetchall()


def test_replay_after_fixing_the_data_registers_the_credential_once(
        fresh_warehouse_url, registry_url, registry_client):
    url = fresh_warehouse_url
    with connect(url) as conn:
        seed_credentials(conn, "acme", 1, issued="2026-05-01", expires="2026-04-01")  # registry says 422
    push_submissions(url, "acme", registry_client, settings=TEST_SETTINGS)

    dry = replay_dead_letters(url, "acme", source="registry", dry_run=True, registry_client=registry_client)
    assert dry.selected == 1 and dry.replayed == 0 and dry.would_replay[0].endswith("(registry_rejected_422)")
    assert _letters(url)[0][2] == "open", "a dry run changes nothing"

    unfixed = replay_dead_letters(url, "acme", source="registry", dry_run=False, registry_client=registry_client)
    assert unfixed.still_failing == 1 and _letters(url)[0][2] == "open"

    with connect(url) as conn:
        conn.execute("UPDATE core.credentials SET expiry_date = '2028-05-01'")
        conn.commit()
    fixed = replay_dead_letters(url, "acme", source="all", reason="registry_rejected_%", dry_run=False,
                                registry_client=registry_client)
    again = replay_dead_letters(url, "acme", dry_run=False, registry_client=registry_client)

    assert fixed.replayed == 1 and again.selected == 0
    source, _reason, status, outcome = _letters(url)[0]
    assert (source, status) == ("registry", "replayed") and outcome.startswith("acknowledged (201")
    listing = list(registry_client.list_certificates("acme"))
    assert [c["expires_on"] for c in listing] == ["2028-05-01"]
    with connect(url) as conn:
        state = conn.execute("SELECT state FROM core.registry_submissions").fetchone()[0]
        replay_events = conn.execute(
            "SELECT count(*) FROM audit.events WHERE event_type = 'dead_letter.replayed'").fetchone()[0]
    assert state == "acknowledged" and replay_events == 2


def test_writeback_dead_letter_replays_once_the_worker_exists_in_the_hris(
        fresh_warehouse_url, hris_url, hris_client, tmp_path):
    url = fresh_warehouse_url
    with connect(url) as conn:
        seed_credentials(conn, "acme", 1)
    sync_writebacks(url, "acme", hris_client, as_of=date(2026, 3, 2), payroll_dir=tmp_path)
    put_hris_workers(hris_url, "acme", ["E000001"])

    result = replay_dead_letters(url, "acme", source="hris_writeback", dry_run=False, hris_client=hris_client,
                                 payroll_dir=tmp_path, as_of=date(2026, 3, 2))

    assert result.replayed == 1
    assert _letters(url) == [("hris_writeback", "hris_rejected_404", "replayed", "write-back delivered")]
