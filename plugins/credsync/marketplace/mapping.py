"""Mapped member records for the talent marketplace (include/mappings/marketplace_member_v1.csv, seed 001).

One record per worker, from core.workers / core.completions / core.credentials::

    {"member_id", "email", "learning_completed": [...], "score": [...], "badge_awarded": [...],
     "enrollment_state": [...], "certificate_ref": [...]}

The CSV holds one section per seed row: the member's own fields (``member_id``, ``email``) and, for
each array, the fields of one item (``learning_completed.course_id`` ...). Each section is applied
with the mapping engine to a source record shaped like the seed's names (``user.id``,
``course.completion.completed_at``, ``assessment.score``, ``badge.id``, ``enrollment.status``,
``certificate.id``), so the engine's checks (control characters, lengths, enums, score range) hold.

A worker whose own fields fail is quarantined whole; an item that fails is quarantined alone (its
``record_key`` names worker, section and item) and the member goes out without it: one bad record
never holds back a tenant. URLs are checked here as well (rule ``url_https``): the engine has no URL
transform, and a marketplace shows them as links.

Contractors and alumni go under their pseudonymised id (credsync.governance.pseudonymise, kind
``employee_id``) and a pseudonymised email (``<pseudonym>@<the profile's pseudonym_email_domain>``),
so the marketplace can match their records across runs without holding who they are; the vault keeps
the way back.

Plain Python: importable without Airflow.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from credsync.mapping import FieldMapping, MappingError, load_mapping
from credsync.marketplace.profile import MarketplaceProfile

MAPPING = ("marketplace_member", "v1")
SECTIONS = ("learning_completed", "score", "enrollment_state", "badge_awarded", "certificate_ref")
RULE_URL = "url_https"
GRADING_SCALE = "0-100"
#: A credential without an expiry is referenced this long before its retention days start.
NO_EXPIRY_YEARS = 10
Pseudonymiser = Callable[[str, str], str]  # (kind, original) -> pseudonym


@dataclass(frozen=True)
class Refusal:
    """A record the mapping refused: ``record_key`` names it, ``rule`` the check, ``reason`` what was wrong."""

    employee_id: str
    record_key: str
    rule: str
    reason: str
    record: dict[str, Any]
    section: str = "member"  # "member": the whole worker was refused; else the one item's section


@dataclass
class Built:
    members: list[dict[str, Any]] = field(default_factory=list)
    employee_of: dict[str, str] = field(default_factory=dict)  # member_id -> employee_id
    refused: list[Refusal] = field(default_factory=list)
    pseudonymised: list[tuple[str, str]] = field(default_factory=list)  # (kind, original) sent as pseudonyms


def sections(mapping: FieldMapping | None = None) -> dict[str, FieldMapping]:
    """The member section (key ``member``) and one mapping per array, from the one CSV."""
    mapping = mapping or load_mapping(*MAPPING)
    parts: dict[str, list[Any]] = {"member": []}
    for rule in mapping.rules:
        prefix, dot, _ = rule.target_field.partition(".")
        parts.setdefault(prefix if dot else "member", []).append(rule)
    missing = set(SECTIONS) - set(parts)
    if missing:
        raise MappingError(f"sections {', '.join(sorted(missing))} are not mapped", file=mapping.path.name,
                           row=None, field=None)
    return {name: FieldMapping(mapping.name, mapping.version, mapping.path, tuple(rules))
            for name, rules in parts.items()}


def content_hash(record: Mapping[str, Any]) -> str:
    """sha256 of the record's canonical JSON: what an idempotency key and the ledger compare."""
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def canonical_json(record: Any) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc or re.search(r"\s", url):
        raise ValueError(f"{url[:80]!r} is not an https URL with a host (and no credentials or spaces)")


def build_members(tenant_id: str, profile: MarketplaceProfile, workers: Iterable[Mapping[str, Any]],
                  completions: Iterable[Mapping[str, Any]], credentials: Iterable[Mapping[str, Any]], *,
                  pseudonymise: Pseudonymiser, achievement_names: Mapping[str, str] | None = None) -> Built:
    """Map every worker; ``completions`` / ``credentials`` rows carry ``employee_id`` (rows of sources.sql)."""
    maps = sections()
    by_worker_c: dict[str, list[Mapping[str, Any]]] = {}
    for row in completions:
        by_worker_c.setdefault(str(row["employee_id"]), []).append(row)
    by_worker_k: dict[str, list[Mapping[str, Any]]] = {}
    for row in credentials:
        by_worker_k.setdefault(str(row["employee_id"]), []).append(row)
    built = Built()
    for number, worker in enumerate(workers, start=1):
        employee_id = str(worker["employee_id"])
        hidden = profile.pseudonymised(worker.get("employment_type"), worker.get("employment_status"))
        member_id = pseudonymise("employee_id", employee_id) if hidden else employee_id
        email = worker.get("work_email")
        if hidden:
            built.pseudonymised.append(("employee_id", employee_id))
            if email:
                built.pseudonymised.append(("email", str(email)))
                email = f"{pseudonymise('email', str(email))}@{profile.pseudonym_email_domain}"
        source = {"user": {"id": member_id, "email": email}}
        try:
            member = maps["member"].apply(source, record_number=number, record_key=employee_id)
        except MappingError as exc:
            built.refused.append(Refusal(employee_id, employee_id, exc.rule, str(exc), {"user": {"id": employee_id}}))
            continue
        items = _items(profile, worker, by_worker_c.get(employee_id, []), by_worker_k.get(employee_id, []),
                       achievement_names or {})
        for section in SECTIONS:
            member[section] = []
            for item_key, record in items[section]:
                key = f"{employee_id}/{section}/{item_key}"
                try:
                    mapped = maps[section].apply(record, record_number=number, record_key=key)
                    mapped = {name.partition(".")[2]: value for name, value in mapped.items()}
                    for url_field in ("credential_url", "url"):
                        if url_field in mapped:
                            check_url(str(mapped[url_field]))
                except MappingError as exc:
                    built.refused.append(Refusal(employee_id, key, exc.rule, str(exc), record, section))
                    continue
                except ValueError as exc:
                    built.refused.append(Refusal(employee_id, key, RULE_URL,
                                                 f"{maps[section].path.name}, section {section}, record {number} "
                                                 f"({key}): {exc}", record, section))
                    continue
                member[section].append(mapped)
        built.members.append(member)
        built.employee_of[member["member_id"]] = employee_id
    return built


def _items(profile: MarketplaceProfile, worker: Mapping[str, Any], completions: list[Mapping[str, Any]],
           credentials: list[Mapping[str, Any]], names: Mapping[str, str]) -> dict[str, list[tuple[str, Any]]]:
    """The seed's source records of one worker, per section, as (item key, nested record)."""
    courses: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(completions, key=lambda r: (str(r["course_code"]), r["completed_at"])):
        courses.setdefault(str(row["course_code"]), []).append(row)
    out: dict[str, list[tuple[str, Any]]] = {s: [] for s in SECTIONS}
    left = worker.get("employment_status") == "terminated"
    for course, rows in courses.items():
        live = [r for r in rows if not r.get("voided")]
        passed = [r for r in live if r.get("success")]
        if passed:
            latest = passed[-1]
            out["learning_completed"].append((course, {"course": {"id": course, "completion": {
                "completed": True, "completed_at": _iso(latest["completed_at"])}}}))
            state = "completed"
        else:
            state = "dropped" if not live or left else "active"
        scored = [r for r in live if r.get("score") is not None]
        if scored:
            best = ([r for r in passed if r.get("score") is not None] or scored)[-1]  # a pass's score wins
            out["score"].append((course, {"course": {"id": course}, "assessment": {
                "score": float(best["score"]), "grading_scale": GRADING_SCALE}}))
        out["enrollment_state"].append((course, {"course": {"id": course}, "enrollment": {"status": state}}))
    for row in credentials:
        award = str(row.get("award_id") or row["credential_id"])
        url = profile.certificate_location(award)
        out["badge_awarded"].append((award, {"badge": {
            "id": award, "name": names.get(str(row.get("rule_id") or ""), str(row["credential_type"])),
            "issued_at": _iso(row["created_at"]), "issuer": row["issuer"], "credential_url": url}}))
        expiry = row.get("expiry_date")
        anchor = expiry if expiry else _add_years(row["issue_date"], NO_EXPIRY_YEARS)
        retain = anchor + timedelta(days=profile.certificate_retention_days)
        out["certificate_ref"].append((str(row["credential_id"]), {"certificate": {
            "id": str(row["credential_id"]), "url": url, "retain_until": retain.isoformat()}}))
    return out


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def to_json(member: Mapping[str, Any]) -> dict[str, Any]:
    """The member record as the marketplace receives it (timestamps as ISO 8601 with Z)."""
    return json.loads(canonical_json(member))


__all__ = ["Built", "Refusal", "build_members", "canonical_json", "check_url", "content_hash", "sections",
           "to_json"]
