"""NELC's validation checklist, applied to each statement before it is sent (and by the LRS sandbox).

github.com/nelc/NELC-Integration, Validation_Check_List.md; the rules credsync enforces, by name:

- ``national_id_invalid`` (item 25): ``actor.name`` is the learner's National ID / Iqama.
- ``verb_not_nelc``, ``object_type_mismatch`` (item 10): a verb of NELC's table, on its object type.
- ``platform_mismatch`` (item 21): ``context.platform`` is the agreed platform key.
- ``registration_missing`` (item 1): a journey starts with ``registered`` for its course.
- ``duplicate_statement`` (item 3, "a learner activity must be sent only once"): the same learner,
  verb, object, attempt and progress under a second statement id.
- ``progress_not_forward`` (item 4): a course's progress only increases.
- ``attempt_id_not_sequential`` (item 6): attempt ids of one exam are 1, 2, 3... with no gap or repeat.
- ``extension_not_allowed`` (items 16-20): each context extension only where the guide puts it.
- ``certificate_location_missing``, ``certificate_id_is_url`` (item 31): an ``earned`` statement
  carries ``jws-certificate-location`` and its certificate id is not that URL.
- ``certificate_is_template`` (item 32): the learner's own certificate (an instance), not the
  master/template: the location is not a template URL and no other learner earned the same id or URL.

:class:`History` holds what was already accepted (rebuilt from the ledger, or kept by the sandbox);
:meth:`History.admit` returns the violations of one statement and records it only when there are none.
A resent statement (same id, same content) is not a duplicate: it is the same statement.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from credsync.mapping import national_id as nid
from credsync.national.vocabulary import (
    ALLOWED_EXTENSIONS,
    COURSE,
    EXT_ATTEMPT_ID,
    EXT_JWS_CERTIFICATE,
    OBJECT_TYPES,
    VERB_NAMES,
)

RULES = ("national_id_invalid", "verb_not_nelc", "object_type_mismatch", "platform_mismatch",
         "registration_missing", "duplicate_statement", "progress_not_forward", "attempt_id_not_sequential",
         "extension_not_allowed", "certificate_location_missing", "certificate_id_is_url",
         "certificate_is_template")


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "detail": self.detail}


def content_hash(statement: dict[str, Any]) -> str:
    """What identifies a statement's content (its id excluded): a resend has the same hash."""
    body = {k: v for k, v in statement.items() if k not in ("id", "stored", "authority", "version")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode()).hexdigest()


@dataclass(frozen=True)
class Facts:
    """The parts of a statement the checklist compares across statements."""

    statement_id: str
    actor: str
    verb: str | None
    object_id: str
    object_type: str | None
    course_id: str
    attempt_id: Any
    progress: float | None
    certificate_url: str | None
    extensions: dict[str, Any]
    platform: str | None

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.actor, self.verb, self.object_id, self.attempt_id, self.progress)


def facts(statement: dict[str, Any]) -> Facts:
    actor = statement.get("actor") or {}
    obj = statement.get("object") or {}
    context = statement.get("context") or {}
    extensions = context.get("extensions") or {}
    definition = obj.get("definition") or {}
    verb = VERB_NAMES.get((statement.get("verb") or {}).get("id"))
    parents = (context.get("contextActivities") or {}).get("parent") or []
    course = obj.get("id") if definition.get("type") == COURSE or not parents else parents[0].get("id")
    score = ((statement.get("result") or {}).get("score") or {}).get("scaled")
    return Facts(
        statement_id=str(statement.get("id") or ""), actor=str(actor.get("name") or ""), verb=verb,
        object_id=str(obj.get("id") or ""), object_type=definition.get("type"), course_id=str(course or ""),
        attempt_id=extensions.get(EXT_ATTEMPT_ID), progress=float(score) if verb == "progressed" and
        isinstance(score, int | float) else None, certificate_url=extensions.get(EXT_JWS_CERTIFICATE),
        extensions=extensions if isinstance(extensions, dict) else {}, platform=context.get("platform"),
    )


@dataclass
class History:
    """What the national LRS already holds for a tenant, as the checklist needs it."""

    platform: str
    templates: frozenset[str] = frozenset()
    hashes: dict[str, str] = field(default_factory=dict)
    signatures: dict[tuple[Any, ...], str] = field(default_factory=dict)
    registered: set[tuple[str, str]] = field(default_factory=set)
    progress: dict[tuple[str, str], float] = field(default_factory=dict)
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    certificate_owner: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, platform: str, accepted: Iterable[dict[str, Any]], templates: Iterable[str] = ()) -> History:
        history = cls(platform=platform, templates=frozenset(templates))
        for statement in accepted:
            history.record(statement)
        return history

    def replay(self, statement: dict[str, Any]) -> bool | None:
        """True: the very statement is held already; False: its id is held with other content; None: new."""
        held = self.hashes.get(str(statement.get("id")))
        return None if held is None else held == content_hash(statement)

    def admit(self, statement: dict[str, Any]) -> list[Violation]:
        """The checklist's violations of ``statement``; with none it is recorded as accepted."""
        found = self.violations(statement)
        if not found:
            self.record(statement)
        return found

    def violations(self, statement: dict[str, Any]) -> list[Violation]:
        f = facts(statement)
        out: list[Violation] = []
        if not (f.actor.isascii() and nid.is_valid(f.actor)):
            out.append(Violation("national_id_invalid", "actor.name must be the learner's 10-digit National ID "
                                                        "or Iqama (first digit 1, 2 or 4; Luhn check digit)"))
        if f.verb is None:
            out.append(Violation("verb_not_nelc", f"verb {(statement.get('verb') or {}).get('id')!r} is not in "
                                                  "NELC's verb table"))
            return out
        wanted = OBJECT_TYPES.get(f.verb)
        if wanted and f.object_type not in wanted:
            out.append(Violation("object_type_mismatch", f"{f.verb} acts on {sorted(wanted)}, not {f.object_type!r}"))
        if f.platform != self.platform:
            out.append(Violation("platform_mismatch", f"context.platform {f.platform!r} is not {self.platform!r}"))
        if f.verb != "registered" and (f.actor, f.course_id) not in self.registered:
            out.append(Violation("registration_missing", f"no registered statement for course {f.course_id} yet"))
        held = self.signatures.get(f.signature)
        if held is not None and held != f.statement_id:
            out.append(Violation("duplicate_statement", f"the same {f.verb} of {f.object_id} was sent as {held}"))
        if f.verb == "progressed":
            before = self.progress.get((f.actor, f.course_id))
            if f.progress is None:
                out.append(Violation("progress_not_forward", "a progressed statement needs result.score.scaled"))
            elif before is not None and f.progress <= before:
                out.append(Violation("progress_not_forward",
                                     f"progress {f.progress} of {f.course_id} is not above the {before} sent"))
        if f.verb == "attempted":
            last = self.attempts.get((f.actor, f.object_id), 0)
            if not (isinstance(f.attempt_id, int) and not isinstance(f.attempt_id, bool)) or f.attempt_id != last + 1:
                out.append(Violation("attempt_id_not_sequential",
                                     f"attempt-id {f.attempt_id!r} of {f.object_id}; the next one is {last + 1}"))
        allowed = ALLOWED_EXTENSIONS.get(f.verb, frozenset())
        extra = sorted(set(f.extensions) - allowed)
        if extra:
            out.append(Violation("extension_not_allowed", f"{f.verb} may not carry {', '.join(extra)}"))
        if f.verb == "earned":
            out += self._certificate(f)
        return out

    def _certificate(self, f: Facts) -> list[Violation]:
        if not f.certificate_url:
            return [Violation("certificate_location_missing", f"earned needs {EXT_JWS_CERTIFICATE}")]
        out = []
        if f.certificate_url == f.object_id:
            out.append(Violation("certificate_id_is_url", "the certificate id and its URL must be distinct"))
        owners = {self.certificate_owner.get(key) for key in (f.certificate_url, f.object_id)} - {None, f.actor}
        if f.certificate_url in self.templates or f.object_id in self.templates or "{" in f.certificate_url:
            out.append(Violation("certificate_is_template",
                                 "the certificate is the master/template, not the learner's own copy"))
        elif owners:
            out.append(Violation("certificate_is_template",
                                 "another learner earned the same certificate: it is a template, not an instance"))
        return out

    def record(self, statement: dict[str, Any]) -> None:
        f = facts(statement)
        self.hashes[f.statement_id] = content_hash(statement)
        self.signatures.setdefault(f.signature, f.statement_id)
        if f.verb == "registered":
            self.registered.add((f.actor, f.course_id))
        if f.verb == "progressed" and f.progress is not None:
            key = (f.actor, f.course_id)
            self.progress[key] = max(f.progress, self.progress.get(key, f.progress))
        if f.verb == "attempted" and isinstance(f.attempt_id, int):
            key = (f.actor, f.object_id)
            self.attempts[key] = max(f.attempt_id, self.attempts.get(key, 0))
        if f.verb == "earned" and f.certificate_url:
            self.certificate_owner.setdefault(f.certificate_url, f.actor)
            self.certificate_owner.setdefault(f.object_id, f.actor)
