"""Which securing format each tenant's credentials use: ``credentials.format`` in include/tenants.yaml.

``vc+jwt`` (VC-JOSE-COSE: the JWT payload is the credential; the default) or ``eddsa-rdfc-2022`` (the
credential as JSON with an embedded Data Integrity proof). Both carry the same AchievementCredential,
the same did:web key and the same status entry; ``core.credentials.vc_jwt`` holds whichever text the
tenant's format produces (a compact JWS, or the JSON document), and the registry push sends it as is.
A tenant not in the file (a test's, a benchmark's) gets the default. Plain module: no Airflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

VC_JWT = "vc+jwt"
DATA_INTEGRITY = "eddsa-rdfc-2022"
FORMATS = (VC_JWT, DATA_INTEGRITY)
DEFAULT_FORMAT = VC_JWT


class CredentialFormatConfigError(ValueError):
    """``credentials`` of a tenant in include/tenants.yaml is invalid: the message names file, tenant and field."""


def _tenants_file() -> Path:
    from credsync.tenants import TENANTS_FILE

    return TENANTS_FILE


def parse_format(where: str, credentials: Any) -> str:
    """The format a tenant's ``credentials:`` block names; absent means the default."""
    if credentials is None:
        return DEFAULT_FORMAT
    if not isinstance(credentials, dict):
        raise CredentialFormatConfigError(f"{where}: field 'credentials' must be a mapping like {{format: vc+jwt}}")
    unknown = sorted(set(credentials) - {"format"})
    if unknown:
        raise CredentialFormatConfigError(
            f"{where}: field 'credentials' has unknown key(s) {', '.join(map(repr, unknown))} (known: 'format')")
    value = credentials.get("format", DEFAULT_FORMAT)
    if value not in FORMATS:
        raise CredentialFormatConfigError(
            f"{where}: field 'credentials.format' is {value!r}; expected one of {', '.join(FORMATS)}")
    return str(value)


def load_formats(path: Path | None = None) -> dict[str, str]:
    """tenant_id -> securing format for every tenant in the file (disabled ones included), validated."""
    import yaml

    path = path or _tenants_file()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    formats: dict[str, str] = {}
    for index, entry in enumerate(raw.get("tenants") or [], start=1):
        if not isinstance(entry, dict) or not entry.get("tenant_id"):
            continue  # credsync.tenants reports malformed entries
        tenant_id = str(entry["tenant_id"])
        formats[tenant_id] = parse_format(f"{path}: tenant #{index} ({tenant_id})", entry.get("credentials"))
    return formats


def tenant_format(tenant_id: str, path: Path | None = None) -> str:
    """The securing format of ``tenant_id``'s credentials (the default for a tenant the file does not list)."""
    return load_formats(path).get(tenant_id, DEFAULT_FORMAT)
