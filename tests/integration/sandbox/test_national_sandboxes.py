"""The sandboxes behind the demo's national profile, over real HTTP on loopback.

- The HRIS sandbox seeded with ``"national": true`` for a tenant exports its workers with a National
  ID / Iqama and an Arabic name (day-N changes and a restart keep them); other tenants as before.
- The national LRS (NELC) sandbox run as a service keeps what it stored across a restart, so a
  statement sent after it is checked against the registration received before it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from credsync.mapping import national_id
from sandbox.synth.changes import iter_changes
from sandbox.synth.workforce import iter_workers
from tests.integration.people.test_hris_webhooks import serve

TOKENS = {"acme": "tok-acme", "globex": "tok-globex"}
SEED = {"tenants": {"acme": {"workers": 120, "seed": 7}, "globex": {"workers": 90, "seed": 11, "national": True}}}


def _hris(monkeypatch, data_dir: Path) -> Any:
    from sandbox.hris.app import create_app

    monkeypatch.setenv("SANDBOX_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SANDBOX_HRIS_TOKENS", json.dumps(TOKENS))
    monkeypatch.setenv("SANDBOX_SEED", json.dumps(SEED))
    monkeypatch.delenv("SANDBOX_FAULTS_HRIS", raising=False)
    return create_app()


def _export(url: str, tenant: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKENS[tenant]}"}, timeout=30) as client:
        body = client.get(f"/api/v1/tenants/{tenant}/workers", params={"limit": 5000}).raise_for_status().json()
    assert body["next_cursor"] is None
    return sorted(body["data"], key=lambda w: w["employee_id"])


def _without_stamp(workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in w.items() if k != "updated_at"} for w in workers),
                  key=lambda w: w["employee_id"])


def test_a_national_tenant_exports_national_ids_and_arabic_names_and_others_export_as_before(
        monkeypatch, tmp_path) -> None:
    with serve(_hris(monkeypatch, tmp_path)) as url:
        globex, acme = _export(url, "globex"), _export(url, "acme")
        assert _without_stamp(globex) == _without_stamp(list(iter_workers("globex", 90, 11, national=True)))
        assert all(national_id.is_valid(w["national_id"]) and w["name_ar"]["family"] for w in globex)
        assert _without_stamp(acme) == _without_stamp(list(iter_workers("acme", 120, 7)))
        assert not any("national_id" in w or "name_ar" in w for w in acme)
        with httpx.Client(base_url=url, timeout=30) as admin:
            applied = admin.post("/admin/tenants/globex/changes/1").raise_for_status().json()
            # A worker PUT back with its national fields (what the demo's bad day restores) keeps them.
            worker = {k: v for k, v in globex[0].items() if k != "updated_at"}
            worker["employment"] = {**worker["employment"], "location": "Riyadh"}
            admin.put(f"/admin/tenants/globex/workers/{worker['employee_id']}", json=worker).raise_for_status()
        assert applied["applied"] > 0
    # A restart keeps the data, and later day-N changes still carry the national fields.
    with serve(_hris(monkeypatch, tmp_path)) as url:
        with httpx.Client(base_url=url, timeout=30) as admin:
            admin.post("/admin/tenants/globex/changes/2").raise_for_status()
        after = {w["employee_id"]: w for w in _export(url, "globex")}
    changed = {c["employee_id"]: c["worker"] for day in (1, 2) for c in iter_changes("globex", 90, 11, day,
                                                                                       national=True)}
    assert set(changed) <= set(after)
    for employee_id, worker in changed.items():
        assert (after[employee_id]["national_id"], after[employee_id]["name_ar"]) \
            == (worker["national_id"], worker["name_ar"])
    assert after[worker_id := globex[0]["employee_id"]]["national_id"] == globex[0]["national_id"], worker_id


PLATFORM = "GLBX-001"
NELC, TINCAN, VERB = "https://nelc.gov.sa/extensions/", "http://id.tincanapi.com/extension/", \
    "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.globex.example/course/FORK-101"


def _statement(verb: str, learner: str, **extra: Any) -> dict[str, Any]:
    course = verb == "registered"
    return {
        "id": str(uuid.uuid4()),
        "actor": {"name": learner, "account": {"name": learner, "homePage": "https://lms.globex.example"}},
        "verb": {"id": VERB + verb, "display": {"en-US": verb}},
        "object": {"id": COURSE if course else f"{COURSE}/exam/final", "objectType": "Activity",
                   "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/course" if course
                                  else "http://id.tincanapi.com/activitytype/unit-test"}},
        "context": {"platform": PLATFORM, "extensions": {NELC + "platform": PLATFORM, **extra},
                    "contextActivities": {} if course else {"parent": [{"id": COURSE}]}},
        "timestamp": "2026-03-01T08:00:00.000Z",
    }


def _nelc(monkeypatch, data_dir: Path) -> Any:
    from sandbox.nelc.app import create_app

    monkeypatch.setenv("SANDBOX_DATA_DIR", str(data_dir))
    monkeypatch.setenv("SANDBOX_NELC_CREDENTIALS", json.dumps({"nelc-globex": ["s3cret", PLATFORM]}))
    monkeypatch.delenv("SANDBOX_FAULTS_NELC", raising=False)
    return create_app()


def test_the_national_lrs_sandbox_keeps_its_statements_across_a_restart(monkeypatch, tmp_path) -> None:
    learner = national_id.with_check_digit("112345678")
    registered = _statement("registered", learner, **{NELC + "lms_url": "https://lms.globex.example"})
    attempted = _statement("attempted", learner, **{TINCAN + "attempt-id": 1})
    stray = _statement("attempted", national_id.with_check_digit("212345678"), **{TINCAN + "attempt-id": 1})
    auth = ("nelc-globex", "s3cret")
    with serve(_nelc(monkeypatch, tmp_path)) as url:
        assert httpx.post(f"{url}/xapi/statements", json=[registered], auth=auth).status_code == 200
        refused = httpx.post(f"{url}/xapi/statements", json=[stray], auth=auth)
        assert (refused.status_code, refused.json()["rule"]) == (400, "registration_missing")
    with serve(_nelc(monkeypatch, tmp_path)) as url:
        before = httpx.get(f"{url}/sandbox/received").json()
        assert before == {"received": {registered["id"]: 1, stray["id"]: 1}, "stored": [registered["id"]]}
        # After the restart the attempt is checked against the registration held before it ...
        assert httpx.post(f"{url}/xapi/statements", json=[attempted], auth=auth).json() == [attempted["id"]]
        # ... and a resend of the held registration is stored once.
        assert httpx.post(f"{url}/xapi/statements", json=[registered], auth=auth).status_code == 200
        listing = httpx.get(f"{url}/sandbox/received").json()
        stored = httpx.get(f"{url}/xapi/statements").json()["statements"]
    assert listing["received"] == {registered["id"]: 2, stray["id"]: 1, attempted["id"]: 1}
    assert sorted(listing["stored"]) == sorted([registered["id"], attempted["id"]]) and len(stored) == 2
    # Without a data dir (tests' create_app(credentials)), state stays in memory.
    from sandbox.nelc.app import create_app

    with serve(create_app({"nelc-globex": ("s3cret", PLATFORM)})) as url:
        assert httpx.get(f"{url}/sandbox/received").json() == {"received": {}, "stored": []}
