"""Named value transforms a mapping CSV may chain in its ``transform`` column.

A transform takes one value (already ``None`` for a missing or blank source
field) and returns the new value, or raises :class:`TransformError` with a
short reason and a stable ``rule`` name; the engine adds file, row and field
to it. ``None`` passes through every transform unchanged so optional fields
stay optional.

Besides reshaping values, some transforms are checks that declare what a field
may hold (``max_length:N``, ``charset:<class>``, ``single_script``, ``email``):
identity fields reach core, SCIM and the credential subject, so a value that
is too long, outside its character class or a homoglyph of another value is
quarantined here, with the rule named, instead of travelling on. The engine
adds checks no mapping can switch off (control characters, a default length
cap); see :mod:`credsync.mapping.engine`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from confusable_homoglyphs import categories, confusables

from credsync.mapping.identity import canonical_id as _canonical_id

Transform = Callable[[Any], Any]

# Stable rule names: quarantine rows and dashboards group by them (docs/data_dictionary.md).
RULE_CONTROL = "control_characters"
RULE_UNICODE = "invalid_unicode"
RULE_MAX_LENGTH = "max_length"
RULE_MAX_SIZE = "max_size"
RULE_CHARSET = "charset"
RULE_HOMOGLYPH = "homoglyph"
RULE_MIXED_SCRIPT = "mixed_script"
RULE_EMAIL = "email_format"
RULE_ENUM = "enum"
RULE_DATE = "date_format"
RULE_SCORE = "score_range"
RULE_TYPE = "data_type"
RULE_REQUIRED = "required"
RULE_TRANSFORM = "transform_failed"


class TransformError(ValueError):
    """A value could not be transformed; the message says why, without naming the field.

    ``rule`` is the stable name of the check that failed (one of the ``RULE_*``
    constants), so quarantine rows can be counted by rule.
    """

    def __init__(self, message: str, *, rule: str = RULE_TRANSFORM) -> None:
        super().__init__(message)
        self.rule = rule


def show(value: Any, limit: int = 40) -> str:
    """``repr`` of ``value`` cut to ``limit`` characters: a 10 MB value must not become a 10 MB reason."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[:limit]}... ({type(value).__name__})"


def describe(char: str) -> str:
    """``U+0430 CYRILLIC SMALL LETTER A``: how a reason names one character (it may be invisible)."""
    fallback = "<control>" if unicodedata.category(char) == "Cc" else "<unnamed>"
    return f"U+{ord(char):04X} {unicodedata.name(char, fallback)}"


def _text(value: Any) -> str:
    """The text a check looks at: a string, or an integer id sent as a JSON number."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TransformError(f"expected text, got {type(value).__name__}", rule=RULE_TYPE)


def trim(value: Any) -> Any:
    """Strip surrounding whitespace; an empty result becomes ``None`` (a blank is a missing value)."""
    if value is None or not isinstance(value, str):
        return value
    stripped = value.strip()
    return stripped or None


def lowercase_email(value: Any) -> Any:
    """Trim and lowercase an email address (the whole address: mailbox providers ignore case)."""
    value = trim(value)
    return value.lower() if isinstance(value, str) else value


def strip_email_alias(value: Any) -> Any:
    """Drop a ``+tag`` sub-address from the local part: ``ann+lms@x.org`` → ``ann@x.org``.

    Used for the normalised email that matching compares; never for the key.
    """
    if not isinstance(value, str) or "@" not in value:
        return value
    local, _, domain = value.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def parse_iso8601(value: Any) -> Any:
    """An ISO 8601 date (``YYYY-MM-DD``) or timestamp (``Z`` or offset) → ``date`` / aware ``datetime``.

    Naive timestamps are rejected: a source that omits the zone would be read
    in the worker's local time by one system and UTC by another.
    """
    if value is None or isinstance(value, datetime | date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise TransformError(f"{show(text)} is not an ISO 8601 date or timestamp", rule=RULE_DATE) from exc
    if parsed.tzinfo is None:
        raise TransformError(f"{show(text)} has no time zone (expected Z or an offset)", rule=RULE_DATE)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is a valid string but has no UTC instant
        raise TransformError(f"{show(text)} is outside the representable range", rule=RULE_DATE) from None


def normalize_score_0_100(value: Any) -> Any:
    """A score on a 0..100 scale.

    Accepts an xAPI/SCORM score object (``scaled`` in -1..1 wins, else
    ``raw`` within ``min``..``max``) or a plain number already on 0..100.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        scaled = value.get("scaled")
        if scaled is not None:
            number = _number(scaled) * 100
        else:
            raw, low, high = value.get("raw"), value.get("min", 0), value.get("max", 100)
            if raw is None:
                return None
            low_n, high_n = _number(low), _number(high)
            if high_n <= low_n:
                raise TransformError(f"score range min={show(low)} max={show(high)} is empty", rule=RULE_SCORE)
            number = (_number(raw) - low_n) / (high_n - low_n) * 100
    else:
        number = _number(value)
    if not 0 <= number <= 100:
        raise TransformError(f"score {show(value)} is outside 0..100 after normalising ({number:g})", rule=RULE_SCORE)
    return round(number, 4)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise TransformError(f"{value!r} is a boolean, expected a number", rule=RULE_SCORE)
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TransformError(f"{show(value)} is not a number", rule=RULE_SCORE) from exc


def enum_map(spec: str) -> Transform:
    """Build the transform for ``enum:src=dst|src2=dst2``: source values map case-insensitively.

    A value outside the map is an error, not a pass-through, so a new HRIS
    status cannot slip into ``core`` unnoticed.
    """
    pairs: dict[str, str] = {}
    for item in spec.split("|"):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"enum entry {item!r} must look like source=target")
        pairs[source.strip().lower()] = target.strip()
    allowed = ", ".join(sorted(pairs))

    def apply(value: Any) -> Any:
        if value is None:
            return None
        key = str(value).strip().lower()
        if key not in pairs:
            raise TransformError(f"{show(value)} is not one of the mapped values ({allowed})", rule=RULE_ENUM)
        return pairs[key]

    return apply


# --- Checks on hostile values -------------------------------------------------------------------

#: Characters no emitted string may hold: C0 controls (NUL included), DEL, C1 controls, line and
#: paragraph separators, and the bidi embeddings/overrides/isolates that make text display in
#: another order than it compares ("Trojan Source"). Tab, CR and LF are controls too: no identity
#: field needs them, and in a CSV or a log line they split or forge cells.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
#: Lone surrogates (from a JSON "\ud800" escape) cannot be encoded as UTF-8: Postgres would refuse them.
SURROGATES = re.compile("[\ud800-\udfff]")


#: Either of the two above: clean text (every value of every record) costs one scan, not two.
_UNSAFE = re.compile(f"{CONTROL_CHARACTERS.pattern}|{SURROGATES.pattern}")


def check_text(text: str) -> None:
    """Raise :class:`TransformError` (``control_characters`` / ``invalid_unicode``) if ``text`` holds either."""
    if _UNSAFE.search(text) is None:
        return
    found = CONTROL_CHARACTERS.search(text)
    if found:
        raise TransformError(
            f"contains control character {describe(found.group())} at position {found.start()}", rule=RULE_CONTROL
        )
    found = SURROGATES.search(text)
    if found:
        raise TransformError(
            f"contains lone surrogate U+{ord(found.group()):04X} at position {found.start()} (not valid Unicode text)",
            rule=RULE_UNICODE,
        )


def canonical_id(value: Any) -> Any:
    """An identity key in canonical form: NFKC, trimmed, case preserved (``credsync.mapping.identity``).

    Full-width ``E000739`` (U+FF25 U+FF10...) becomes ASCII ``E000739`` before the character class
    sees it. The tenant's case policy is applied later, in staging, where the
    tenant is known.
    """
    if value is None:
        return None
    return _canonical_id(_text(value)) or None


def max_length(spec: str) -> Transform:
    """Build the check for ``max_length:N``: at most ``N`` characters (code points)."""
    try:
        limit = int(spec)
    except ValueError:
        raise ValueError(f"max_length needs a whole number of characters, got {spec!r}") from None
    if limit < 1:
        raise ValueError(f"max_length must be at least 1, got {limit}")

    def apply(value: Any) -> Any:
        if value is None:
            return None
        text = _text(value)
        if len(text) > limit:
            raise TransformError(f"is {len(text)} characters long, more than the {limit} allowed",
                                 rule=RULE_MAX_LENGTH)
        return value

    apply.max_length = limit  # type: ignore[attr-defined]  # the engine's emitted-value cap reads it
    return apply


def _is_letter_or_mark(char: str) -> bool:
    return unicodedata.category(char)[0] in "LM"


# Name punctuation: apostrophes (O'Brien, 't Hart; typographic and modifier-letter forms), hyphens,
# dots (initials), the middle dots of Catalan (l·l) and of Japanese foreign names (・); ZWNJ/ZWJ are
# part of the spelling in Persian and Indic scripts.
_NAME_PUNCTUATION = frozenset(" '\u2019\u02bc-\u2010.\u00b7\u30fb\u200c\u200d")
_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True)
class CharacterClass:
    """A named set of characters a field may hold (``charset:<name>``)."""

    name: str
    description: str
    allows: Callable[[str], bool]
    fast: re.Pattern[str]  # a whole-value match that proves the common (ASCII) case at regex speed
    first: Callable[[str], bool] | None = None  # what the first character must be, if restricted


CHARACTER_CLASSES: dict[str, CharacterClass] = {
    # HRIS/LMS ids as the sandboxes and real systems issue them (E000739, A000123, crs-2024.1). The
    # first character is a letter or digit, so an id can never start a spreadsheet formula (=, +, -, @).
    "identifier": CharacterClass(
        "identifier", "A-Z a-z 0-9 . _ - (starting with a letter or digit)",
        _ID_CHARACTERS.__contains__, re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*"), str.isalnum,
    ),
    # Legal and preferred names in any script; no digits, symbols, or invisible characters beyond ZWNJ/ZWJ.
    "person_name": CharacterClass(
        "person_name", "letters of any script, spaces, apostrophes, hyphens, dots",
        lambda c: c in _NAME_PUNCTUATION or _is_letter_or_mark(c), re.compile(r"[A-Za-z .'-]*[A-Za-z][A-Za-z .'-]*"),
    ),
    # Free text (department, job title, city): anything printable; no format, private-use or unassigned
    # characters (invisible or rendering differently per font) and no separator but the plain space.
    "text": CharacterClass(
        "text", "printable characters and spaces",
        lambda c: c == " " or unicodedata.category(c)[0] not in "CZ", re.compile(r"[\x20-\x7e]*"),
    ),
}


def _lookalike(char: str, allowed: Callable[[str], bool]) -> str | None:
    """The allowed character ``char`` impersonates (Cyrillic U+0415 for ``E``), if Unicode lists one."""
    for glyph in confusables.confusables_data.get(char, ()):
        candidate = glyph.get("c", "")
        if len(candidate) == 1 and candidate != char and allowed(candidate):
            return candidate
    return None


def _foreign_letter_or_digit(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN" and categories.alias(char) not in _SHARED_SCRIPTS


def charset(name: str) -> Transform:
    """Build the check for ``charset:<name>``: every character in class ``name`` (:data:`CHARACTER_CLASSES`).

    A character outside the class that is a known lookalike of one inside it
    (Cyrillic U+0415 for ``E``) fails as ``homoglyph``, anything else as ``charset``.
    """
    try:
        cls = CHARACTER_CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown character class {name!r} (known: {', '.join(sorted(CHARACTER_CLASSES))})") from None

    def apply(value: Any) -> Any:
        if value is None:
            return None
        text = _text(value)
        if cls.fast.fullmatch(text):
            return value
        for position, char in enumerate(text):
            if cls.allows(char) and (position or cls.first is None or cls.first(char)):
                continue
            # Only a letter or digit of some script can impersonate one (Cyrillic U+0415 for E); a
            # symbol or an ASCII digit in a name is just outside the class.
            lookalike = _lookalike(char, cls.allows) if _foreign_letter_or_digit(char) else None
            if lookalike is not None:
                raise TransformError(
                    f"{describe(char)} at position {position} looks like {lookalike!r} but is not "
                    f"in the {cls.name} class ({cls.description})", rule=RULE_HOMOGLYPH,
                )
            where = "as first character" if cls.allows(char) else f"at position {position}"
            raise TransformError(f"{describe(char)} {where} is not allowed in the {cls.name} class "
                                 f"({cls.description})", rule=RULE_CHARSET)
        if name == "person_name" and not any(_is_letter_or_mark(c) for c in text):
            raise TransformError(f"{show(text)} has no letters", rule=RULE_CHARSET)
        return value

    return apply


# Scripts every script shares (digits, punctuation, combining marks) do not make a value mixed.
_SHARED_SCRIPTS = frozenset({"COMMON", "INHERITED"})
# Writing systems that mix scripts by nature (Unicode TS #39 "highly restrictive", without Latin).
_SCRIPT_COMBINATIONS = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA"}), frozenset({"HAN", "BOPOMOFO"}), frozenset({"HAN", "HANGUL"}),
)


def scripts_of(text: str) -> set[str]:
    """The scripts ``text`` is written in, ignoring the shared ones (digits, punctuation, marks)."""
    if text.isascii():  # ASCII letters are all Latin; spares a per-character lookup in the common case
        return {"LATIN"} if any(c.isalpha() for c in text) else set()
    return categories.unique_aliases(text) - _SHARED_SCRIPTS


def _mixed_script_reason(text: str, found: set[str]) -> str:
    counts = {script: 0 for script in found}
    for char in text:
        script = categories.alias(char)
        if script in counts:
            counts[script] += 1
    main = max(sorted(counts), key=counts.__getitem__)
    intruder = next(c for c in text if categories.alias(c) in found and categories.alias(c) != main)
    lookalike = _lookalike(intruder, lambda c: categories.alias(c) == main)
    hint = f"; {describe(intruder)} looks like {lookalike!r}" if lookalike else f"; first {describe(intruder)}"
    return f"mixes scripts {', '.join(sorted(found))}{hint}"


def single_script(value: Any) -> Any:
    """Reject a value that mixes scripts (``Anna`` with a Cyrillic U+0410 ``A``): a spoof, or a typo no one sees.

    Combining marks, digits and punctuation belong to every script; Han with
    Hiragana/Katakana, Bopomofo or Hangul is one writing system, not a mix.
    """
    if value is None:
        return None
    text = _text(value)
    found = scripts_of(text)
    if len(found) > 1 and not any(found <= combination for combination in _SCRIPT_COMBINATIONS):
        raise TransformError(_mixed_script_reason(text, found), rule=RULE_MIXED_SCRIPT)
    return value


_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _whole_script_lookalike(label: str) -> bool:
    """Every letter of a non-Latin ``label`` looks like an ASCII letter or digit (a Cyrillic ``apple``)."""
    letters = {c for c in label if categories.alias(c) not in _SHARED_SCRIPTS}
    if not letters or scripts_of(label) <= {"LATIN"}:
        return False
    return all(_lookalike(c, _ASCII_ALNUM.__contains__) is not None for c in letters)


_LOCAL_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+'-")
_EMAIL_FAST = re.compile(r"[A-Za-z0-9_%+'-]+(\.[A-Za-z0-9_%+'-]+)*@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
                         r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")


def _email_error(message: str) -> TransformError:
    return TransformError(message, rule=RULE_EMAIL)


def _check_spoof(part: str, what: str, *, ascii_context: bool = False) -> None:
    """Mixed scripts in ``part``; and, where the rest of the name is ASCII (``ascii_context``), a
    label spelled only in lookalikes of ASCII letters, as in a Cyrillic ``apple`` under ``.com``.
    A Cyrillic label under a Cyrillic TLD (``.рф``) is ordinary Russian, not a spoof.
    """
    found = scripts_of(part)
    if len(found) > 1 and not any(found <= combination for combination in _SCRIPT_COMBINATIONS):
        raise TransformError(f"{what} {_mixed_script_reason(part, found)}", rule=RULE_MIXED_SCRIPT)
    if ascii_context and _whole_script_lookalike(part):
        raise TransformError(f"{what} {show(part)} is written entirely in {', '.join(sorted(found))} "
                             f"letters that look like Latin ones", rule=RULE_HOMOGLYPH)


def email(value: Any) -> Any:
    """Check an email address: shape, then local part and each domain label for homoglyph spoofs.

    Local part: ASCII letters, digits and ``. _ % + ' -`` (no leading,
    trailing or doubled dot), or letters of one script (internationalised
    mail). Domain: at least two labels of letters, digits and inner hyphens;
    ``xn--`` labels are decoded first, so a punycode ``xn--80ak6aa92e.com`` (Cyrillic "apple") is caught
    like the Unicode one. Rules: ``email_format``, ``mixed_script``
    (``acme.com`` with a Cyrillic U+0430 for the ``a``), ``homoglyph`` (a label made only of
    Latin lookalikes).
    """
    if value is None:
        return None
    text = _text(value)
    if _EMAIL_FAST.fullmatch(text) and len(text) <= 254 and len(text.partition("@")[0]) <= 64 and not any(
        label.lower().startswith("xn--") or len(label) > 63 for label in text.rpartition("@")[2].split(".")
    ):
        return value
    if text.count("@") != 1:
        raise _email_error(f"{show(text)} must contain exactly one @")
    local, _, domain = text.partition("@")
    if not local or len(local) > 64:
        raise _email_error(f"local part of {show(text)} must be 1..64 characters")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise _email_error(f"local part of {show(text)} has a leading, trailing or doubled dot")
    for char in local:
        if char not in _LOCAL_ASCII and (char.isascii() or not _is_letter_or_mark(char)):
            raise _email_error(f"{describe(char)} is not allowed in the local part of an address")
    _check_spoof(local, "local part")
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2:
        raise _email_error(f"domain {show(domain)} must be a name with at least two labels")
    ascii_tld = labels[-1].isascii() and not labels[-1].lower().startswith("xn--")
    for label in labels:
        if label.lower().startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except UnicodeError:
                raise _email_error(f"domain label {show(label)} is not valid punycode") from None
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            raise _email_error(f"domain {show(domain)} has an empty, too long or hyphen-edged label")
        for char in label:
            if not (char == "-" or (char.isascii() and char.isalnum()) or (
                    not char.isascii() and (_is_letter_or_mark(char) or unicodedata.category(char) == "Nd"))):
                raise _email_error(f"{describe(char)} is not allowed in the domain of an address")
        _check_spoof(label, "domain label", ascii_context=ascii_tld)
    return value


def saudi_national_id(value: Any) -> Any:
    """A Saudi National ID / Iqama (credsync.mapping.national_id): 10 digits, 1/2/4 first, Luhn check digit."""
    from credsync.mapping.national_id import RULE, InvalidNationalId, validate

    if value is None:
        return None
    try:
        return validate(_text(value))
    except InvalidNationalId as exc:
        raise TransformError(f"{exc} ({exc.check})", rule=RULE) from None


NAMED: dict[str, Transform] = {
    "saudi_national_id": saudi_national_id,
    "trim": trim,
    "lowercase_email": lowercase_email,
    "strip_email_alias": strip_email_alias,
    "parse_iso8601": parse_iso8601,
    "normalize_score_0_100": normalize_score_0_100,
    "canonical_id": canonical_id,
    "single_script": single_script,
    "email": email,
}
#: Transforms that take an argument: ``name:argument``.
PARAMETRISED: dict[str, Callable[[str], Transform]] = {
    "enum": enum_map,
    "max_length": max_length,
    "charset": charset,
}

_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def looks_like_email(value: str) -> bool:
    """The same loose shape check the GX gate applies in SQL (kept here for the webhook path)."""
    return bool(_EMAIL_SHAPE.match(value))


def resolve(spec: str) -> Transform:
    """The transform named by one step of a ``transform`` cell; ``ValueError`` if unknown."""
    spec = spec.strip()
    name, sep, argument = spec.partition(":")
    if sep and name in PARAMETRISED:
        return PARAMETRISED[name](argument.strip())
    try:
        return NAMED[spec]
    except KeyError:
        known = ", ".join([*sorted(NAMED), "enum:a=b|c=d", "max_length:N",
                           f"charset:{'|'.join(sorted(CHARACTER_CLASSES))}"])
        raise ValueError(f"unknown transform {spec!r} (known: {known})") from None
