"""Hostile field values: each is refused by a named rule, naming file, row, field and record, or canonicalised.

Regressions for issue 11 defects 3 (NUL and control characters), 7 (lengths, character classes,
homoglyphs, formula-looking ids) and 1 (identity keys in one canonical form).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from credsync.mapping import COLUMNS, DEFAULT_MAX_LENGTH, MappingError, load_mapping

HEADER = ",".join(COLUMNS)
CYRILLIC_IE = "\u0415"  # looks like Latin E
CYRILLIC_A = "\u0430"  # looks like Latin a


def worker(**overrides: object) -> dict:
    record = {
        "employee_id": "E000739",
        "source_system": "hris_main",
        "name": {"given": "Ann", "family": "Lee", "preferred": None},
        "emails": {"work": "ann.lee@acme.example"},
        "employment": {"status": "active", "type": "employee", "hire_date": "2020-02-03",
                       "department": "Ops", "job_title": "Operator", "manager_id": "E000001",
                       "location": "Berlin"},
        "updated_at": "2024-05-01T10:00:00Z",
    }
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        target = record
        for part in parents:
            target = target[part]
        target[leaf] = value
    return record


def rejected(**overrides: object) -> MappingError:
    with pytest.raises(MappingError) as err:
        load_mapping("hris_worker", "v1").apply(worker(**overrides), record_number=3, record_key="E000739")
    assert err.value.record == 3 and err.value.record_key == "E000739"
    assert err.value.file == "hris_worker_v1.csv" and err.value.row is not None
    assert f"record 3 (E000739): {err.value.reason}" in str(err.value)
    return err.value


def test_nul_in_a_name_is_quarantined_as_control_characters() -> None:
    err = rejected(name__given="An\x00n")
    assert (err.field, err.rule) == ("given_name", "control_characters")
    assert "U+0000" in err.reason


@pytest.mark.parametrize("char", ["\x01", "\t", "\n", "\r", "\x1f", "\x7f", "\x85", "\x9f", "\u2028", "\u202e"])
def test_control_characters_are_refused_in_every_string_field(char: str) -> None:
    assert rejected(name__family=f"Lee{char}").rule == "control_characters"
    # trim would drop a trailing control character silently; the source value is checked first.
    assert rejected(employment__department=f"Ops{char}").rule == "control_characters"
    assert rejected(employee_id=f"E00{char}0739").field == "employee_id"


def test_control_characters_are_refused_even_where_the_mapping_declares_nothing(tmp_path: Path) -> None:
    (tmp_path / "bare_v1.csv").write_text(f"{HEADER}\ns,a,a,string,,false,,1:1,\ns,b,b,json,,false,,1:1,\n")
    mapping = load_mapping("bare", "v1", tmp_path)
    with pytest.raises(MappingError) as err:
        mapping.apply({"a": "x\x00y"})
    assert (err.value.field, err.value.rule) == ("a", "control_characters")
    with pytest.raises(MappingError) as err:
        mapping.apply({"b": {"nested": ["ok", "bad\x00"]}})
    assert (err.value.field, err.value.rule) == ("b", "control_characters")
    with pytest.raises(MappingError) as err:
        mapping.apply({"b": {"key\x07": 1}})
    assert err.value.rule == "control_characters"


def test_lone_surrogate_is_invalid_unicode() -> None:
    assert rejected(name__family="Lee\ud800").rule == "invalid_unicode"


def test_ten_megabyte_name_is_refused_without_echoing_it() -> None:
    err = rejected(name__given="A" * 10_000_000)
    assert (err.field, err.rule) == ("given_name", "max_length")
    assert len(str(err)) < 500


def test_declared_max_length_is_enforced() -> None:
    err = rejected(employee_id="E" * 65)
    assert (err.field, err.rule) == ("employee_id", "max_length")
    assert "64 allowed" in err.reason
    assert rejected(name__family="L" * 201).rule == "max_length"


def test_default_cap_applies_where_no_max_length_is_declared(tmp_path: Path) -> None:
    (tmp_path / "bare_v1.csv").write_text(f"{HEADER}\ns,a,a,string,trim,false,,1:1,\n")
    mapping = load_mapping("bare", "v1", tmp_path)
    assert mapping.apply({"a": "x" * DEFAULT_MAX_LENGTH}) == {"a": "x" * DEFAULT_MAX_LENGTH}
    with pytest.raises(MappingError) as err:
        mapping.apply({"a": "x" * (DEFAULT_MAX_LENGTH + 1)})
    assert err.value.rule == "max_length"


def test_formula_looking_id_is_refused_by_the_identifier_class() -> None:
    err = rejected(employee_id="=cmd|' /C calc'!A0")
    assert (err.field, err.rule) == ("employee_id", "charset")
    assert "U+003D EQUALS SIGN" in err.reason
    for formula in ("+1+1", "-2+3", "@SUM(A1)"):
        assert rejected(employee_id=formula).rule == "charset"
    assert rejected(employment__manager_id="=HYPERLINK(\"x\")").field == "manager_id"


def test_cyrillic_homoglyph_in_an_id_is_refused() -> None:
    err = rejected(employee_id=f"{CYRILLIC_IE}000739")
    assert (err.field, err.rule) == ("employee_id", "homoglyph")
    assert "CYRILLIC CAPITAL LETTER IE" in err.reason and "looks like 'E'" in err.reason


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        (f"ann.lee@{CYRILLIC_A}cme.example", "mixed_script"),  # one Cyrillic letter in the domain
        ("ann.lee@xn--80ak6aa92e.com", "homoglyph"),  # punycode for a Cyrillic-only "apple"
        (f"ann.lee@{CYRILLIC_A}\u0441\u0435.com", "homoglyph"),  # Cyrillic "ace" under .com
        (f"{CYRILLIC_A}nn.lee@acme.example", "mixed_script"),  # the local part
        ("=cmd|calc@acme.example", "email_format"),
        ("ann lee@acme.example", "email_format"),
        ("ann@@acme.example", "email_format"),
        ("ann@localhost", "email_format"),
    ],
)
def test_email_homoglyphs_and_bad_shapes_are_refused(address: str, rule: str) -> None:
    err = rejected(emails__work=address)
    assert (err.field, err.rule) == ("work_email", rule)


def test_internationalised_addresses_in_one_script_pass() -> None:
    mapping = load_mapping("hris_worker", "v1")
    for address in ("ann@bücher.example", "иван@пример.рф", "o'brien+lms@acme.example"):
        row = mapping.apply(worker(emails__work=address))
        assert row["work_email"] == address.lower()


def test_full_width_id_is_canonicalised_case_preserved() -> None:
    row = load_mapping("hris_worker", "v1").apply(
        worker(employee_id=" \uff25\uff10\uff10\uff10\uff17\uff13\uff19 ", employment__manager_id="\uff45\uff11"))
    assert row["employee_id"] == "E000739"
    assert row["manager_id"] == "e1"  # case is the tenant's policy, applied in staging


def test_mixed_script_name_is_refused_but_names_in_any_one_script_pass() -> None:
    err = rejected(name__given="\u0410nna")  # Cyrillic A + Latin nna
    assert (err.field, err.rule) == ("given_name", "mixed_script")
    mapping = load_mapping("hris_worker", "v1")
    for family in ("O'Brien", "'t Hart", "van der Berg", "Müller-Lüdenscheidt", "Mu\u0308ller", "Анна-Мария",
                   "Παπαδόπουλος", "山田はなこ", "김민준", "عبد الله", "श्रीवास्तव", "Jr.", "Gonçalves"):
        assert mapping.apply(worker(name__family=family))["family_name"] == family


def test_names_refuse_digits_and_symbols() -> None:
    assert rejected(name__family="Lee2").rule == "charset"
    assert rejected(name__given="=cmd|' /C calc'!A0").rule == "charset"
    assert rejected(name__preferred="<script>").field == "preferred_name"


def test_wrong_types_are_data_type_errors() -> None:
    assert rejected(employee_id=True).rule == "data_type"
    assert rejected(name__given=["Ann"]).rule == "data_type"
    assert rejected(employment__department={"a": 1}).rule == "data_type"
    # An integer id from a JSON export is text for the key.
    assert load_mapping("hris_worker", "v1").apply(worker(employee_id=739))["employee_id"] == "739"


def test_transform_reasons_do_not_echo_huge_values() -> None:
    err = rejected(employment__status="x" * 9_000)
    assert err.rule == "enum" and len(err.reason) < 300


def test_unknown_character_class_fails_at_load(tmp_path: Path) -> None:
    (tmp_path / "bad_v1.csv").write_text(f"{HEADER}\ns,a,a,string,charset:emoji,false,,1:1,\n")
    with pytest.raises(MappingError, match="unknown character class 'emoji'") as err:
        load_mapping("bad", "v1", tmp_path)
    assert err.value.rule == "mapping_file" and err.value.row == 2
    (tmp_path / "bad_v2.csv").write_text(f"{HEADER}\ns,a,a,string,max_length:lots,false,,1:1,\n")
    with pytest.raises(MappingError, match="max_length needs a whole number"):
        load_mapping("bad", "v2", tmp_path)


def test_every_string_field_of_the_hris_mapping_declares_a_limit() -> None:
    for rule in load_mapping("hris_worker", "v1").rules:
        if rule.data_type == "string" and not rule.transform_spec.startswith("enum:"):
            assert "max_length:" in rule.transform_spec, rule.target_field


def test_a_declared_limit_above_the_default_cap_wins() -> None:
    # A signed credential may be longer than the default cap; the registry contract allows 16 KiB.
    mapping = load_mapping("registry_certificate", "v1")
    rule = next(rule for rule in mapping.rules if rule.target_field == "credential_jwt")
    assert rule.max_length == 16_384 > DEFAULT_MAX_LENGTH
