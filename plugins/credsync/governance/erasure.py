"""Erasure of one worker everywhere credsync holds them: warehouse, audit payloads, object-store files.

What "everywhere" means is found, not listed: every table of every credsync schema (from the catalog,
so a table a later migration adds is covered without touching this module), every text, jsonb and
text[] column, every file under the object-store folders that hold per-tenant files. The one place
left alone is ``vault`` (the keyed mapping, encrypted).

The originals are the worker's employee id, names, e-mails, user names and national id, as credsync
holds them (core.workers, the staged HRIS history, and any column of a row keyed by the employee id
whose name says it holds one of those). Each becomes:

- its keyed pseudonym (:mod:`credsync.governance.pseudonymise`), the mapping kept in the vault, when
  the tenant's policy has a legal basis to keep the records (contractors, alumni: erasure_policy) —
  records stay joinable and an audited step can reverse it;
- a random token otherwise (no mapping: gone for good), and the worker's raw staging rows are deleted.

Identifiers (employee id, e-mail, national id) are replaced wherever they stand as a whole token. A
name is replaced only in rows (and file lines) that also carry one of the worker's identifiers, so a
colleague who shares a first name keeps it. Audit payloads that mention the worker are tombstoned
through :mod:`credsync.audit.redact`, which keeps the hash chain verifiable.

Idempotent: a rerun finds no originals left and changes nothing (the report says so). All of it runs
in the caller's transaction; files are rewritten after the database work, before the caller commits,
so a failed run leaves the request ``received`` and the next run finishes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from credsync.audit.chain import append_event
from credsync.governance import pseudonymise as psn
from credsync.governance.erasure_policy import decide

if TYPE_CHECKING:
    import psycopg

# Schemas that are not credsync's data (the vault is the mapping itself and stays).
_NOT_SCANNED = ("pg_catalog", "information_schema", "pg_toast", "public", "vault")
# Columns (in a row keyed by the employee id) that hold one of the worker's identifying values.
_VALUE_COLUMNS = (
    (re.compile(r"(^|_)(national_id|iqama|nid)($|_)"), "national_id"),
    (re.compile(r"(^|_)e?mail(_normalized|_address)?$|^email"), "email"),
    (re.compile(r"^user_?name$"), "user_name"),
    (re.compile(r"^(given|family|preferred|full|middle|display|legal)_name(_[a-z]{2}(_[a-z]{2})?)?$"), "name"),
)
_KEY_COLUMNS = ("employee_id", "external_id")
# Identifying kinds: replaced wherever they occur; names only where an identifier is in the same row.
_IDENTIFIERS = ("employee_id", "email", "national_id", "user_name")
# Object-store folders with per-tenant files: (folder, override variable).
STORE_FOLDERS = (("payroll", "CREDSYNC_PAYROLL_STORE"), ("reports", "CREDSYNC_REPORT_STORE"),
                 ("hris_drop", "CREDSYNC_HRIS_DROP"), ("data_docs", "CREDSYNC_DATA_DOCS_STORE"))
_TEXT_SUFFIXES = (".csv", ".json", ".jsonl", ".txt", ".md", ".html", ".htm", ".xml", ".yaml", ".yml", ".tsv")


class ErasureError(RuntimeError):
    """An erasure request that cannot be carried out (unknown request, no subject); the message says why."""


@dataclass
class ErasureReport:
    """What one erasure run did, with no original value in it (safe for logs, XCom and the audit chain)."""

    tenant_id: str
    request_id: str
    subject: str
    mode: str
    basis: str | None
    values: dict[str, int] = field(default_factory=dict)        # kind -> originals found
    tables: dict[str, int] = field(default_factory=dict)        # schema.table -> rows rewritten
    deleted: dict[str, int] = field(default_factory=dict)       # schema.table -> rows deleted (erase mode)
    audit_events: int = 0                                       # payloads tombstoned
    files: dict[str, int] = field(default_factory=dict)         # store path -> occurrences replaced
    already_done: bool = False

    @property
    def changed(self) -> int:
        return sum(self.tables.values()) + sum(self.deleted.values()) + self.audit_events + len(self.files)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "request_id": self.request_id, "subject": self.subject,
                "mode": self.mode, "basis": self.basis, "values": self.values, "tables": self.tables,
                "deleted": self.deleted, "audit_events": self.audit_events, "files": self.files,
                "changed": self.changed, "already_done": self.already_done}


@dataclass(frozen=True)
class _Replacements:
    """Originals and what replaces each, as Postgres (ARE) and Python patterns."""

    identifiers: list[tuple[str, str, str]]  # (kind, original, replacement), longest first
    names: list[tuple[str, str, str]]

    def all(self) -> list[tuple[str, str, str]]:
        return self.identifiers + self.names


def erase_worker(conn: psycopg.Connection, tenant_id: str, employee_id: str | None, *, request_id: str,
                 source: str, policy: Mapping[str, Any] | None = None, mode: str | None = None,
                 key: bytes | None = None, store_roots: Iterable[Any] | None = None) -> ErasureReport:
    """Erase or pseudonymise ``employee_id`` of ``tenant_id`` everywhere; the caller commits.

    ``employee_id`` may be None for a request already recorded (a rerun by request id). ``policy``
    defaults to the tenant's (include/tenants.yaml ``erasure``); ``mode`` forces ``erase`` or
    ``pseudonymise``. ``store_roots`` overrides the object-store folders scanned (tests, a backfill).
    """
    key = key or psn.tenant_key(tenant_id)
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('credsync.erasure'), hashtext(%s))", (tenant_id,))
    request = conn.execute("SELECT subject, mode, basis, status FROM core.erasure_requests"
                           " WHERE tenant_id = %s AND request_id = %s", (tenant_id, request_id)).fetchone()
    if employee_id is None or psn.is_pseudonym(employee_id) or employee_id.startswith("erased_"):
        if request is None:
            raise ErasureError(f"erasure request {request_id!r} of tenant {tenant_id} is not recorded and names "
                               "no employee id")
        employee_id = None
    subject = psn.pseudonym(tenant_id, employee_id, key=key) if employee_id else request[0]
    if policy is None:
        from credsync.tenants import load_tenants

        tenant = next((t for t in load_tenants(enabled_only=False) if t.tenant_id == tenant_id), None)
        policy = tenant.erasure if tenant else {}
    if request is not None and request[1]:
        mode, basis = request[1], request[2]
    elif mode is None:
        mode, basis = decide(policy, _worker(conn, tenant_id, employee_id) if employee_id else None)
    else:
        basis = "manual request" if mode == "pseudonymise" else None
    if mode not in ("erase", "pseudonymise"):
        raise ErasureError(f"erasure mode {mode!r} is not erase or pseudonymise")
    if request is None:
        conn.execute("INSERT INTO core.erasure_requests (tenant_id, request_id, subject, source, mode, basis)"
                     " VALUES (%s, %s, %s, %s, %s, %s)", (tenant_id, request_id, subject, source, mode, basis))
    report = ErasureReport(tenant_id, request_id, subject, mode, basis,
                           already_done=request is not None and request[3] == "done")
    originals = collect_originals(conn, tenant_id, employee_id) if employee_id else []
    report.values = _count_kinds(originals)
    if originals:
        replacements = _replacements(conn, tenant_id, originals, mode=mode, basis=basis or "", key=key,
                                     request_id=request_id)
        conn.execute("SELECT set_config('credsync.erasure', 'on', true)")
        _scrub_tables(conn, tenant_id, replacements, delete_staging=mode == "erase", report=report)
        report.audit_events = _redact_audit(conn, tenant_id, replacements, request_id=request_id, basis=basis)
        conn.execute("SELECT set_config('credsync.erasure', 'off', true)")
        report.files = scrub_files(tenant_id, replacements, roots=store_roots)
    if report.already_done and not report.changed:
        return report  # a rerun of a finished request: nothing left to do, nothing recorded
    append_event(conn, tenant_id=tenant_id, event_type=f"worker_{'erased' if mode == 'erase' else 'pseudonymised'}",
                 entity_type="worker", entity_key=subject,
                 detail={"request_id": request_id, "source": source, "basis": basis, "changed": report.changed,
                         "tables": report.tables, "deleted": report.deleted, "audit_events": report.audit_events,
                         "files": len(report.files), "rerun": report.already_done})
    conn.execute("UPDATE core.erasure_requests SET status = 'done', runs = runs + 1,"
                 " completed_at = coalesce(completed_at, clock_timestamp()),"
                 " report = CASE WHEN status = 'done' THEN report ELSE %s::jsonb END"
                 " WHERE tenant_id = %s AND request_id = %s",
                 (json.dumps(report.as_dict()), tenant_id, request_id))
    return report


def _worker(conn: psycopg.Connection, tenant_id: str, employee_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT employment_type, employment_status, source_system FROM core.workers"
                       " WHERE tenant_id = %s AND employee_id = %s", (tenant_id, employee_id)).fetchone()
    return dict(zip(("employment_type", "employment_status", "source_system"), row, strict=True)) if row else None


def _count_kinds(originals: list[tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for kind, _ in originals:
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def credsync_tables(conn: psycopg.Connection) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(schema, table, [(column, type)]) of every credsync table with a tenant_id: text, jsonb, json, text[].

    Partitions are reached through their parent; views hold nothing of their own; generated columns
    follow the columns they are computed from.
    """
    rows = conn.execute(
        """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, NULL)
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                           AND a.attgenerated = ''
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND n.nspname <> ALL (%s) AND n.nspname NOT LIKE 'pg\\_%%'
           AND EXISTS (SELECT 1 FROM pg_attribute t WHERE t.attrelid = c.oid AND t.attname = 'tenant_id'
                       AND NOT t.attisdropped)
           AND format_type(a.atttypid, NULL) IN ('text', 'character varying', 'jsonb', 'json', 'text[]',
                                                 'character varying[]')
         ORDER BY 1, 2, a.attnum
        """, (list(_NOT_SCANNED),)).fetchall()
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, kind in rows:
        tables.setdefault((schema, table), []).append((column, kind))
    return [(schema, table, columns) for (schema, table), columns in tables.items()]


def collect_originals(conn: psycopg.Connection, tenant_id: str, employee_id: str) -> list[tuple[str, str]]:
    """(kind, value) of everything that identifies the worker, as credsync holds it (every version)."""
    from psycopg import sql

    found: set[tuple[str, str]] = {("employee_id", employee_id)}
    for schema, table, columns in credsync_tables(conn):
        names = {c for c, _ in columns}
        keys = [k for k in _KEY_COLUMNS if k in names]
        if not keys:
            continue
        picked = []
        for column, kind in columns:
            if kind not in ("text", "character varying"):
                continue
            for pattern, value_kind in _VALUE_COLUMNS:
                if pattern.search(column):
                    picked.append((column, value_kind))
                    break
        if not picked:
            continue
        where = sql.SQL(" OR ").join(sql.SQL("{} = %(e)s").format(sql.Identifier(k)) for k in keys)
        query = sql.SQL("SELECT DISTINCT {} FROM {}.{} WHERE tenant_id = %(t)s AND ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c, _ in picked), sql.Identifier(schema), sql.Identifier(table),
            where)
        for row in conn.execute(query, {"t": tenant_id, "e": employee_id}).fetchall():
            values = dict(zip((c for c, _ in picked), row, strict=True))
            for (_, kind), value in zip(picked, row, strict=True):
                if value and value.strip() and not psn.is_pseudonym(value) and not value.startswith("erased_"):
                    # An address in any case is one address: one pseudonym, matched case-insensitively.
                    found.add((kind, value.strip().lower() if kind == "email" else value.strip()))
            for first in ("given_name", "preferred_name"):
                if values.get(first) and values.get("family_name"):
                    found.add(("name", f"{values[first].strip()} {values['family_name'].strip()}"))
    # Longest first: "Ana Lima" goes before "Ana", so the whole name becomes one pseudonym.
    return sorted(found, key=lambda kv: (-len(kv[1]), kv))


def _replacements(conn: psycopg.Connection, tenant_id: str, originals: list[tuple[str, str]], *, mode: str,
                  basis: str, key: bytes, request_id: str) -> _Replacements:
    if mode == "pseudonymise":
        mapping = psn.pseudonymise(conn, tenant_id, originals, request_id=request_id, basis=basis, key=key)
    else:
        mapping = {value: psn.anonymous_token() for _, value in originals}
    identifiers = [(k, v, mapping[v]) for k, v in originals if k in _IDENTIFIERS]
    names = [(k, v, mapping[v]) for k, v in originals if k not in _IDENTIFIERS]
    return _Replacements(identifiers, names)


# --- patterns ---------------------------------------------------------------------------------------

def _are_escape(text: str) -> str:
    """``text`` as a literal inside a Postgres advanced regular expression."""
    return "".join(ch if ch.isalnum() or ch in " _" or ord(ch) > 127 else "\\" + ch for ch in text)


def _are(kind: str, original: str, *, in_json: bool) -> str:
    literal = json.dumps(original, ensure_ascii=False)[1:-1] if in_json else original
    flags = "(?i)" if kind in ("email", "name", "user_name") else ""
    return f"{flags}(?<![[:alnum:]_]){_are_escape(literal)}(?![[:alnum:]_])"


def _py(kind: str, original: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(original)}(?![\w])",
                      re.IGNORECASE if kind in ("email", "name", "user_name") else 0)


def _anchor(replacements: _Replacements) -> str:
    """One ARE that matches a row holding any of the worker's identifiers (the rows names are scrubbed in)."""
    parts = [f"(?<![[:alnum:]_]){_are_escape(v)}(?![[:alnum:]_])" for _, v, _ in replacements.identifiers]
    return "(?i)(" + "|".join(parts) + ")"


# --- the warehouse ----------------------------------------------------------------------------------

def _scrub_tables(conn: psycopg.Connection, tenant_id: str, replacements: _Replacements, *,
                  delete_staging: bool, report: ErasureReport) -> None:
    from psycopg import sql

    everything = replacements.all()
    text_patterns = [_are(k, v, in_json=False) for k, v, _ in everything]
    json_patterns = [_are(k, v, in_json=True) for k, v, _ in everything]
    substitutes = [r for _, _, r in everything]
    params = {"t": tenant_id, "anchor": _anchor(replacements), "tp": text_patterns, "jp": json_patterns,
              "r": substitutes}
    for schema, table, columns in credsync_tables(conn):
        if (schema, table) == ("audit", "events"):
            continue  # the chain: through credsync.audit.redact only
        target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        matches = sql.SQL("x.tenant_id = %(t)s AND x::text ~ %(anchor)s")
        name = f"{schema}.{table}"
        if delete_staging and schema == "staging":
            deleted = conn.execute(sql.SQL("DELETE FROM {} AS x WHERE {}").format(target, matches), params).rowcount
            if deleted:
                report.deleted[name] = deleted
            continue
        sets = []
        for column, kind in columns:
            ident = sql.Identifier(column)
            if kind in ("text", "character varying"):
                sets.append(sql.SQL("{} = core.erasure_scrub({}, %(tp)s, %(r)s)").format(ident, ident))
            elif kind in ("jsonb", "json"):
                sets.append(sql.SQL("{} = core.erasure_scrub({}::text, %(jp)s, %(r)s)::{}").format(
                    ident, ident, sql.SQL(kind)))
            else:  # text[]
                sets.append(sql.SQL("{} = ARRAY(SELECT core.erasure_scrub(u.v, %(tp)s, %(r)s)"
                                    " FROM unnest({}) WITH ORDINALITY AS u(v, n) ORDER BY u.n)").format(ident, ident))
        updated = conn.execute(sql.SQL("UPDATE {} AS x SET {} WHERE {}").format(
            target, sql.SQL(", ").join(sets), matches), params).rowcount
        if updated:
            report.tables[name] = updated


def _redact_audit(conn: psycopg.Connection, tenant_id: str, replacements: _Replacements, *, request_id: str,
                  basis: str | None) -> int:
    """Tombstone the payloads of the tenant's audit events that mention the worker (credsync.audit.redact)."""
    from credsync.audit import redact

    anchor = _anchor(replacements)
    event_ids = [r[0] for r in conn.execute(
        "SELECT event_id FROM audit.events WHERE tenant_id = %s AND tombstoned_by IS NULL"
        " AND (entity_key ~ %s OR detail::text ~ %s) ORDER BY event_id", (tenant_id, anchor, anchor)).fetchall()]
    if not event_ids:
        return 0
    # An event about the worker is keyed by their employee id: the tombstone re-keys it to the stand-in.
    entity_keys = {original: substitute for _, original, substitute in replacements.identifiers}
    done = redact.tombstone_events(conn, tenant_id=tenant_id, event_ids=event_ids, reason="erasure",
                                   basis=basis or "erasure request (no legal basis to keep)", reference=request_id,
                                   entity_keys=entity_keys)
    return done.tombstoned


# --- the object store -------------------------------------------------------------------------------

def store_roots() -> list[Any]:
    """The configured object-store folders that hold per-tenant files (those that are configured)."""
    from credsync.objects import open_path, store_url

    roots = []
    for folder, env in STORE_FOLDERS:
        url = store_url(folder, env)
        if url:
            roots.append(open_path(url))
    return roots


def scrub_text(text: str, replacements: _Replacements) -> tuple[str, int]:
    """``text`` with the worker's values replaced (names only on lines holding an identifier); and how many."""
    identifiers = [(_py(k, v), r) for k, v, r in replacements.identifiers]
    names = [(_py(k, v), r) for k, v, r in replacements.names]
    total = 0
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if not any(p.search(line) for p, _ in identifiers):
            continue
        # Identifiers first: a name inside an e-mail address goes with the address, as one stand-in.
        for pattern, substitute in identifiers + names:
            line, count = pattern.subn(substitute, line)
            total += count
        lines[index] = line
    return "".join(lines), total


def scrub_files(tenant_id: str, replacements: _Replacements, *, roots: Iterable[Any] | None = None) -> dict[str, int]:
    """Rewrite the tenant's files that mention the worker; {path: occurrences replaced}.

    Only files under a folder or with a name that carries the tenant id: the same employee id at
    another tenant is another person.
    """
    from credsync.objects import as_store_path, write_atomically

    changed: dict[str, int] = {}
    for root in (store_roots() if roots is None else [as_store_path(r) for r in roots]):
        if not root.exists():
            continue
        for path in root.rglob("*"):
            relative = str(path)[len(str(root)):]
            if not path.is_file() or path.name.startswith(".") or not path.name.lower().endswith(_TEXT_SUFFIXES):
                continue
            if not re.search(rf"(^|[/_.\-]){re.escape(tenant_id)}($|[/_.\-])", relative):
                continue
            try:
                text = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                continue
            scrubbed, count = scrub_text(text, replacements)
            if count:
                write_atomically(path, scrubbed.encode("utf-8"))
                changed[str(path)] = count
    return changed
