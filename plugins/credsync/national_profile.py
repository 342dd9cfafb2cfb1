"""A tenant's national profile (``national:`` in include/tenants.yaml), validated.

Only tenants with one forward learning records to the national LRS, and only their HRIS
extracts carry the national fields (include/mappings/hris_worker_national_v1.csv)::

    national:
      lrs: national_lrs_acme            # Airflow Connection of the national LRS (extra region)
      platform: CRSY-001                # the platform key NELC assigned (PROV-NUM)
      platform_name: {ar-SA: ..., en-US: ...}   # the official licensed names, both languages
      lms_url: https://lms.acme.example           # object ids are built below it
      certificate_url: https://credentials.acme.example/credentials/{award_id}
      language: en-US                   # the language course names are written in
      hris_fields: true                 # the HRIS extract carries national_id and name_ar.* (default false)

``hris_fields`` is opt-in because a CSV file drop has a fixed layout: a tenant whose HRIS sends the
national fields says so, and its extracts are then read with the supplement mapping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_PLATFORM = re.compile(r"^[A-Z0-9]{2,10}-[0-9]{3}$")
_HTTPS = re.compile(r"^https://[^\s{}]+$")
LANGUAGES = ("ar-SA", "en-US")


class NationalProfileError(ValueError):
    """The ``national`` block of a tenant is invalid; the message names tenant and field."""


@dataclass(frozen=True)
class NationalProfile:
    lrs_conn_id: str
    platform: str
    platform_name: dict[str, str]
    lms_url: str
    certificate_url: str
    language: str = "en-US"
    hris_fields: bool = False

    def certificate_location(self, award_id: str) -> str:
        """The public URL of one learner's own certificate (never the achievement's page)."""
        return self.certificate_url.replace("{award_id}", award_id)


def parse_profile(where: str, raw: object) -> NationalProfile | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise NationalProfileError(f"{where}: field 'national' must be a mapping")
    known = {"lrs", "platform", "platform_name", "lms_url", "certificate_url", "language", "hris_fields"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise NationalProfileError(f"{where}: field 'national' has unknown key(s) {', '.join(unknown)}")
    missing = sorted(k for k in known - {"language", "hris_fields"} if not raw.get(k))
    if missing:
        raise NationalProfileError(f"{where}: field 'national' needs {', '.join(missing)}")
    if not _PLATFORM.match(str(raw["platform"])):
        raise NationalProfileError(f"{where}: national.platform {raw['platform']!r} is not PROV-NUM (e.g. GELS-001)")
    names = raw["platform_name"]
    if not isinstance(names, dict) or set(names) != set(LANGUAGES) or not all(
            isinstance(v, str) and v.strip() for v in names.values()):
        raise NationalProfileError(f"{where}: national.platform_name needs the official name under ar-SA and en-US")
    for key in ("lms_url", "certificate_url"):
        if not _HTTPS.match(str(raw[key]).replace("{award_id}", "x")):
            raise NationalProfileError(f"{where}: national.{key} must be an https URL")
    if "{award_id}" not in str(raw["certificate_url"]):
        raise NationalProfileError(f"{where}: national.certificate_url must contain {{award_id}}: each learner's "
                                   "own certificate, never the achievement (template) page")
    if not isinstance(raw.get("hris_fields", False), bool):
        raise NationalProfileError(f"{where}: national.hris_fields must be true or false")
    language = str(raw.get("language") or "en-US")
    if language not in LANGUAGES:
        raise NationalProfileError(f"{where}: national.language must be one of {', '.join(LANGUAGES)}")
    return NationalProfile(lrs_conn_id=str(raw["lrs"]), platform=str(raw["platform"]),
                           platform_name={k: str(v).strip() for k, v in names.items()},
                           lms_url=str(raw["lms_url"]).rstrip("/"), certificate_url=str(raw["certificate_url"]),
                           language=language, hris_fields=bool(raw.get("hris_fields", False)))


def profile_of(tenant: Any) -> NationalProfile | None:
    """The parsed profile of a :class:`credsync.tenants.Tenant` (None: not a national tenant)."""
    return parse_profile(f"tenant {tenant.tenant_id}", getattr(tenant, "national", None))
