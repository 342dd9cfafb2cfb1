"""A national workforce (a Saudi HRIS): National ID / Iqama and Arabic names, other fields as before."""

from __future__ import annotations

import itertools

from credsync.mapping import national_id
from credsync.national.hris import national_mapping
from sandbox.hris.records import Worker
from sandbox.synth.changes import iter_changes
from sandbox.synth.workforce import RESIDENT_SHARE, iter_workers

COUNT = 3000


def test_national_workers_carry_a_valid_distinct_national_id_or_iqama_deterministically() -> None:
    workers = list(iter_workers("globex", COUNT, 11, national=True))
    ids = [w["national_id"] for w in workers]
    assert len(set(ids)) == COUNT
    assert [national_id.validate(i) for i in ids] == ids  # 10 ASCII digits, prefix 1/2, Luhn check digit
    residents = sum(i[0] == "2" for i in ids) / COUNT
    assert {i[0] for i in ids} == {"1", "2"} and abs(residents - RESIDENT_SHARE) < 0.05
    assert workers == list(iter_workers("globex", COUNT, 11, national=True))
    assert ids != [w["national_id"] for w in iter_workers("globex", COUNT, 12, national=True)]
    assert workers[:100] == list(itertools.islice(iter_workers("globex", 400, 11, national=True), 100))


def test_arabic_names_pass_the_national_mapping_and_the_contract() -> None:
    mapping = national_mapping()
    workers = list(iter_workers("globex", COUNT, 11, national=True))
    names = {(w["name_ar"]["given"], w["name_ar"]["family"]) for w in workers}
    assert len(names) == COUNT
    for number, worker in enumerate(workers, start=1):
        mapped = mapping.apply(worker, record_number=number)
        assert mapped == {"national_id": worker["national_id"], "given_name_ar": worker["name_ar"]["given"],
                          "family_name_ar": worker["name_ar"]["family"]}
        assert all("\u0600" <= c <= "\u06ff" or c == " " for c in mapped["given_name_ar"] + mapped["family_name_ar"])
    for worker in workers[:300]:
        assert Worker.model_validate(worker).document() == {k: v for k, v in worker.items() if k != "updated_at"}


def test_other_fields_and_other_workforces_are_unchanged() -> None:
    plain = list(iter_workers("globex", COUNT, 11))
    national = list(iter_workers("globex", COUNT, 11, national=True))
    assert [{k: v for k, v in w.items() if k not in ("national_id", "name_ar")} for w in national] == plain
    assert not any("national_id" in w or "name_ar" in w for w in plain)
    # A PUT without the national fields stores the document as before (no null keys added).
    assert "national_id" not in Worker.model_validate(plain[0]).document()


def test_day_changes_of_a_national_workforce_keep_each_worker_s_national_fields() -> None:
    day0 = {w["employee_id"]: w for w in iter_workers("globex", COUNT, 11, national=True)}
    changes = list(iter_changes("globex", COUNT, 11, 2, national=True))
    for change in changes:
        worker = change["worker"]
        assert national_id.is_valid(worker["national_id"]) and worker["name_ar"]["given"]
        if change["kind"] != "hire":
            assert (worker["national_id"], worker["name_ar"]) == (day0[change["employee_id"]]["national_id"],
                                                                  day0[change["employee_id"]]["name_ar"])
    hires = [c["worker"]["national_id"] for c in changes if c["kind"] == "hire"]
    assert hires and not set(hires) & {w["national_id"] for w in day0.values()}
    assert [c["worker"] for c in iter_changes("globex", COUNT, 11, 2)] \
        == [{k: v for k, v in c["worker"].items() if k not in ("national_id", "name_ar")} for c in changes]
