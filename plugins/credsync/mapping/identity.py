"""Identity keys in one canonical form, by a rule each tenant declares.

An ``employee_id`` is compared by every system credsync talks to, and they do
not agree on how: SCIM servers match ``userName`` case-insensitively, Postgres
compares bytes, an HRIS may send full-width digits from a copy-paste. So every
key is canonicalised once, where it enters (staging), and everything
downstream compares the canonical form:

1. Unicode NFKC (full-width digits and letters become ASCII ones; ligatures split),
2. surrounding whitespace trimmed,
3. the tenant's case policy: ``preserve`` (ids are case-sensitive: ``e1`` and
   ``E1`` are two people, and provisioning refuses to let one adopt the
   other's account), ``upper`` or ``lower`` (the HRIS treats case as noise).

What is *not* a valid key (control characters, mixed scripts) is the
mapping's business (``credsync.mapping.transforms``); this module only says
what two valid keys being "the same" means.
"""

from __future__ import annotations

import unicodedata

CASE_POLICIES = ("preserve", "upper", "lower")
DEFAULT_CASE_POLICY = "preserve"


def canonical_id(value: str, *, case: str = DEFAULT_CASE_POLICY) -> str:
    """``value`` in canonical form under case policy ``case`` (see the module doc)."""
    if case not in CASE_POLICIES:
        raise ValueError(f"unknown case policy {case!r} (known: {', '.join(CASE_POLICIES)})")
    text = unicodedata.normalize("NFKC", value).strip()
    if case == "upper":
        return text.upper()
    if case == "lower":
        return text.lower()
    return text


def case_folded(value: str) -> str:
    """The form a case-insensitive peer (a SCIM server's ``userName``) compares: two keys equal here collide there."""
    return unicodedata.normalize("NFKC", value).strip().casefold()
